// `berth cni gc` and `berth cni status` (spec 1.1.0 lists). gc keeps the attachments berth knows (a
// berth container's ID, or a namespace path that still exists), DELs the other cached ones, then sends
// GC with the valid list so plugins drop what no cache remembers. bin/berth runs in a throw-away host
// namespace with BERTH_ROOT in a test directory.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)
const NET = 'gctest'
const cnitoolId = (path: string) => `cnitool-${createHash('sha512').update(path).digest('hex').slice(0, 20)}`

async function setup(t: Test, subnet: string) {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const root = t.testdir()
  const confDir = join(root, 'etc/cni/net.d')
  const dataDir = join(root, 'var/lib/cni/networks')
  mkdirSync(confDir, { recursive: true })
  const conf = {
    cniVersion: '1.1.0',
    name: NET,
    plugins: [{ type: 'bridge', bridge: uniqueName('br'), isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir } }],
  }
  writeFileSync(join(confDir, `${NET}.conflist`), JSON.stringify(conf))
  const berth = (args: string[]) => {
    const r = spawnSync('nsenter', [`--net=${host.path}`, '--', join(BIN_DIR, 'berth'), ...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', BERTH_ROOT: root, CNI_PATH: BIN_DIR },
      encoding: 'utf8',
      timeout: 60_000,
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  /** container IDs host-local holds addresses for */
  const holders = () => {
    const dir = join(dataDir, NET)
    if (!existsSync(dir)) return []
    return readdirSync(dir)
      .filter((f) => /^[0-9a-f.:]+$/.test(f))
      .map((f) => spawnSync('head', ['-n', '1', join(dir, f)], { encoding: 'utf8' }).stdout.trim())
      .sort()
  }
  const cached = () => {
    const dir = join(root, 'var/lib/cni/results')
    return existsSync(dir) ? readdirSync(dir).sort() : []
  }
  return { host, root, berth, holders, cached }
}

t.test('gc: keeps live namespaces and berth containers, DELs the rest, plugins drop orphans', { skip }, async (t) => {
  const e = await setup(t, '10.67.0.0/24')
  const nss: TestNetns[] = []
  for (let i = 0; i < 4; i++) {
    const ns = await createTestNetns(t)
    nss.push(ns)
    const r = e.berth(['cni', 'add', NET, ns.path])
    t.equal(r.status, 0, r.stderr)
  }
  const [a, b, c, d] = nss as [TestNetns, TestNetns, TestNetns, TestNetns]
  const [pa, pb, pc, pd] = [a.path, b.path, c.path, d.path]
  // b: namespace gone, nobody knows it -> stale. c: namespace gone, but a berth container has its ID -> valid.
  // d: namespace gone and its cache file lost -> only the plugins' GC can free its address.
  b.destroy()
  c.destroy()
  d.destroy()
  const state = join(e.root, 'run/berth/containers/keeper')
  mkdirSync(state, { recursive: true })
  writeFileSync(join(state, 'state.json'), JSON.stringify({ id: cnitoolId(pc), name: 'keeper', networks: [NET] }))
  rmSync(join(e.root, 'var/lib/cni/results', `${NET}-${cnitoolId(pd)}-eth0`))
  t.same(e.holders(), [cnitoolId(pa), cnitoolId(pb), cnitoolId(pc), cnitoolId(pd)].sort(), 'four reservations before gc')

  const gc = e.berth(['cni', 'gc', NET])
  t.equal(gc.status, 0, gc.stderr)
  t.equal(gc.stdout, `removed ${cnitoolId(pb)} eth0\n`, 'reports the stale attachment it deleted')
  t.same(e.cached(), [`${NET}-${cnitoolId(pa)}-eth0`, `${NET}-${cnitoolId(pc)}-eth0`].sort(), 'cache keeps the valid ones')
  t.same(e.holders(), [cnitoolId(pa), cnitoolId(pc)].sort(), "b's address released by DEL, d's by host-local GC")
  t.same((a.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).sort(), ['eth0', 'lo'], 'the live attachment is untouched')

  const again = e.berth(['cni', 'gc', NET])
  t.equal(again.status, 0)
  t.equal(again.stdout, '', 'nothing more to collect')
})

t.test('status: ready, then not (a full range), with the plugin\'s reason', { skip }, async (t) => {
  const e = await setup(t, '10.68.0.0/30')
  const ok = e.berth(['cni', 'status', NET])
  t.equal(ok.status, 0, ok.stderr)
  t.equal(ok.stdout, '')
  const ns = await createTestNetns(t)
  t.equal(e.berth(['cni', 'add', NET, ns.path]).status, 0, 'the one free address taken')
  const full = e.berth(['cni', 'status', NET])
  t.equal(full.status, 1)
  t.match(full.stderr, /^berth: plugin type="bridge" failed \(status\): .*is full.*\n$/)
  t.equal(e.berth(['cni', 'del', NET, ns.path]).status, 0)
  const old = e.berth(['cni', 'status', NET, '--cni-conf-dir', join(e.root, 'old')])
  t.equal(old.status, 1, 'the other conf dir has no such network')
  mkdirSync(join(e.root, 'old'))
  writeFileSync(join(e.root, 'old', 'x.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: NET, plugins: [{ type: 'bridge' }] }))
  const v100 = e.berth(['cni', 'status', NET, '--cni-conf-dir', join(e.root, 'old')])
  t.equal(v100.status, 0, 'a 1.0.0 list: nothing to ask, as libcni')
  t.match(v100.stderr, /^berth: note: network gctest has cniVersion 1\.0\.0; STATUS needs 1\.1\.0, so nothing was asked\n$/)
  const unknown = e.berth(['cni', 'status', 'nope'])
  t.equal(unknown.status, 1)
  t.match(unknown.stderr, /no network named "nope"/)
})
