// bin/bridge runs host-local in-process exactly when the host-local CNI_PATH resolves to is of berth's own
// build (a shim carrying this build's id, wherever it lies); anything else is exec'd. Proof by a marker:
// the bridge and host-local run from a copy of bin/ whose lib/host-local.js (what the host-local launcher
// loads, and only it) first appends "exec <command>" to a file; a wrapper script first in CNI_PATH appends
// "wrapper <command>". The bridge's own copy of the host-local code is untouched, so an in-process call
// leaves the file alone.
import t, { type Test } from 'tap'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { uniqueName } from '../../../helpers/names.js'
import { BIN_DIR } from '../../../helpers/paths.js'
import { stateDirOfNetns } from '../../../../plugins/bridge/state.js'
import { SHIM_MARKER } from '../../../../pkg/invoke/own-executable.js'

const skip = needsRoot() || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)
const REF_DIR = '/usr/lib/cni'
const skipRef = skip || (existsSync(join(REF_DIR, 'host-local')) ? false : `reference plugin ${REF_DIR}/host-local not installed`)
const NET = 'inproc'
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {'

interface Bins {
  /** a copy of bin/ whose host-local executable records each run in `marker` */
  dir: string
  marker: string
  /** the lines in the marker file */
  runs(): string[]
  /** a directory holding only a wrapper script `host-local` that records its run, then execs dir/host-local */
  wrapperDir: string
}

/** A temporary directory of the test's own (t.testdir() is one per test, and the rig takes it). */
function tempDir(t: Test, tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `bt-${tag}-`))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function bins(t: Test): Bins {
  const root = tempDir(t, 'bins')
  mkdirSync(join(root, 'wrap'))
  const dir = join(root, 'bin')
  const marker = join(root, 'runs')
  copyMarked(dir, marker)
  const wrapperDir = join(root, 'wrap')
  const wrapper = join(wrapperDir, 'host-local')
  // The paths are the test's own directories (no quotes in them): nothing here comes from outside.
  writeFileSync(wrapper, `#!/bin/sh\nprintf 'wrapper %s\\n' "$CNI_COMMAND" >> '${marker}'\nexec '${join(dir, 'host-local')}' "$@"\n`)
  chmodSync(wrapper, 0o755)
  return { dir, marker, wrapperDir, runs: () => (existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter((l) => l !== '') : []) }
}

/**
 * bin/ copied to dir, with its host-local bundle appending "exec <command>" to marker whenever it runs;
 * with `otherBuild`, its host-local shim carries another build id (as a build of other sources would).
 */
function copyMarked(dir: string, marker: string, otherBuild = false): void {
  cpSync(BIN_DIR, dir, { recursive: true })
  if (otherBuild) {
    const shim = join(dir, 'host-local')
    const id = readFileSync(join(dir, 'lib', 'build-id'), 'utf8')
    const bytes = readFileSync(shim, 'latin1')
    if (!bytes.includes(`${SHIM_MARKER}${id}`)) throw new Error(`${shim} carries no build id marker: update this test`)
    writeFileSync(shim, bytes.split(id).join('0000000000000000'), 'latin1')
  }
  const lib = join(dir, 'lib', 'host-local.js')
  const code = readFileSync(lib, 'utf8')
  if (!code.startsWith(WRAPPER_HEAD)) throw new Error(`${lib} no longer starts with the build's function wrapper: update this test`)
  const probe = `require("fs").appendFileSync(${JSON.stringify(marker)}, "exec " + process.env.CNI_COMMAND + "\\n");`
  writeFileSync(lib, WRAPPER_HEAD + probe + code.slice(WRAPPER_HEAD.length))
  rmSync(join(dir, 'lib', 'host-local.jscache'), { force: true })
}

interface Rig {
  host: TestNetns
  dataDir: string
  bridge: string
  conf(extra?: Record<string, unknown>, ipam?: Record<string, unknown>): Record<string, unknown>
  run(command: string, cont: TestNetns | string, conf: Record<string, unknown>, o: { dir: string; path: string; id?: string; args?: string }): PluginRun
  /** the bridge with no container (STATUS, GC) */
  runBare(command: string, conf: Record<string, unknown>, o: { dir: string; path: string }): PluginRun
  leases(): string[]
  hostVeths(): string[]
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const stateDir = stateDirOfNetns(host.path)
  // The namespace is new: a directory of that name is a leftover of a dead namespace whose inode was reused.
  rmSync(stateDir, { recursive: true, force: true })
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }))
  const dataDir = t.testdir()
  const bridge = uniqueName('br')
  const ipamBase = { ranges: [[{ subnet: '10.79.0.0/24' }], [{ subnet: 'fd00:79::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }
  return {
    host,
    dataDir,
    bridge,
    conf: (extra = {}, ipam = ipamBase) => ({ cniVersion: '1.1.0', name: NET, type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', dataDir, ...ipam }, ...extra }),
    run: (command, cont, conf, o) =>
      runPlugin('bridge', {
        command,
        netns: typeof cont === 'string' ? cont : cont.path,
        ifName: 'eth0',
        containerId: o.id ?? 'c1',
        path: o.path,
        dir: o.dir,
        stdin: conf,
        hostNetns: host.path,
        ...(o.args === undefined ? {} : { args: o.args }),
      }),
    runBare: (command, conf, o) => runPlugin('bridge', { env: { CNI_COMMAND: command, CNI_PATH: o.path }, dir: o.dir, stdin: conf, hostNetns: host.path }),
    leases: () => {
      const dir = join(dataDir, NET)
      return existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')).sort() : []
    },
    hostVeths: () => (host.ipJson(['link', 'show', 'type', 'veth']) as { ifname: string }[]).map((l) => l.ifname),
  }
}

const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)
/** What the bridge took from IPAM (interfaces carry random MACs and names). */
const lease = (r: PluginRun) => ({ ips: r.json?.['ips'], routes: r.json?.['routes'], dns: r.json?.['dns'] })

t.test("this build's host-local shim runs in-process for ADD, CHECK, STATUS, GC, DEL", { skip }, async (t) => {
  const b = bins(t)
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const o = { dir: b.dir, path: b.dir }
  const conf = rg.conf()
  const a1 = rg.run('ADD', c1, conf, { ...o, id: 'c1' })
  ok(t, a1, 'ADD c1')
  // CNI_PATH naming berth's host-local through a symlink in another directory: still the same file.
  const links = tempDir(t, 'links')
  symlinkSync(join(b.dir, 'host-local'), join(links, 'host-local'))
  const a2 = rg.run('ADD', c2, conf, { dir: b.dir, path: `${links}:${b.dir}`, id: 'c2' })
  ok(t, a2, 'ADD c2 (host-local through a symlink)')
  // A copy of the shim alone, without the lib/ it would fall back to: the same build, so in-process too.
  const shimOnly = tempDir(t, 'shim-only')
  copyFileSync(join(b.dir, 'host-local'), join(shimOnly, 'host-local'))
  ok(t, rg.run('CHECK', c2, { ...conf, prevResult: a2.json }, { dir: b.dir, path: shimOnly, id: 'c2' }), 'CHECK c2 through a copy of the shim elsewhere')
  t.same(rg.leases(), ['10.79.0.2', '10.79.0.3', 'fd00:79::2', 'fd00:79::3'])
  t.ok(existsSync(join(rg.dataDir, NET, '.berth-index')), "berth's host-local code made the reservations")
  ok(t, rg.run('CHECK', c1, { ...conf, prevResult: a1.json }, { ...o, id: 'c1' }), 'CHECK c1')
  ok(t, rg.runBare('STATUS', conf, o), 'STATUS')
  ok(t, rg.runBare('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }, o), 'GC keeping c1')
  t.same(rg.leases(), ['10.79.0.2', 'fd00:79::2'], "GC released c2's addresses")
  ok(t, rg.run('DEL', c1, conf, { ...o, id: 'c1' }), 'DEL c1')
  ok(t, rg.run('DEL', c2, conf, { ...o, id: 'c2' }), 'DEL c2')
  t.same(rg.leases(), [])
  t.same(b.runs(), [], 'the host-local executable never ran')
  // The marker works: the same executable run by hand records itself.
  runPlugin('host-local', { command: 'VERSION', dir: b.dir, stdin: '{}', env: { CNI_COMMAND: 'DEL', CNI_PATH: b.dir, CNI_CONTAINERID: 'x', CNI_IFNAME: 'eth0', BERTH_SOCKET: '/nonexistent/berthd.sock' } })
  t.same(b.runs(), ['exec DEL'], 'the marker records an exec')
})

t.test('a wrapper first in CNI_PATH, or another build\'s host-local, is exec\'d, with the same result and errors', { skip }, async (t) => {
  const b = bins(t)
  const local = await rig(t)
  const viaWrapper = await rig(t)
  const elsewhere = await rig(t)
  const other = join(tempDir(t, 'other'), 'bin')
  const otherMarker = join(other, '..', 'runs')
  copyMarked(other, otherMarker, true)
  const small = { ranges: [[{ subnet: '10.79.0.0/24', rangeStart: '10.79.0.20', rangeEnd: '10.79.0.20' }], [{ subnet: 'fd00:79::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }
  const sides = [
    { name: 'in-process', rg: local, o: { dir: b.dir, path: b.dir } },
    { name: 'wrapper', rg: viaWrapper, o: { dir: b.dir, path: `${b.wrapperDir}:${b.dir}` } },
    { name: 'another build\'s bin/', rg: elsewhere, o: { dir: b.dir, path: other } },
  ]
  const results: Record<string, PluginRun[]> = {}
  for (const s of sides) {
    const c1 = await createTestNetns(t)
    const c2 = await createTestNetns(t)
    const conf = s.rg.conf({}, small)
    const caps = s.rg.conf({ runtimeConfig: { ips: ['fd00:79::77/64'] } }, small)
    const add = s.rg.run('ADD', c1, caps, { ...s.o, id: 'c1', args: 'IgnoreUnknown=1;IP=10.79.0.20' })
    ok(t, add, `${s.name}: ADD c1`)
    const full = s.rg.run('ADD', c2, conf, { ...s.o, id: 'c2' })
    t.equal(full.status, 1, `${s.name}: ADD c2 finds the range full`)
    t.same(s.rg.hostVeths().length, 1, `${s.name}: the failed ADD left no veth`)
    ok(t, s.rg.run('DEL', c1, conf, { ...s.o, id: 'c1' }), `${s.name}: DEL c1`)
    t.same(s.rg.leases(), [], `${s.name}: released`)
    results[s.name] = [add, full]
  }
  const [add, full] = results['in-process'] ?? []
  for (const name of ['wrapper', 'another build\'s bin/']) {
    t.same(lease(results[name]?.[0] as PluginRun), lease(add as PluginRun), `${name}: same IPAM result as in-process`)
    t.equal(results[name]?.[1]?.stdout, full?.stdout, `${name}: the same error document for a full range`)
  }
  t.match(full?.json, { code: 100, msg: /no IP addresses available in range set 10\.79\.0\.20-10\.79\.0\.20/ })
  t.same(b.runs(), ['wrapper ADD', 'exec ADD', 'wrapper ADD', 'exec ADD', 'wrapper DEL', 'exec DEL'], 'the wrapper ran and exec\'d berth\'s host-local (ADD c1, the failed ADD c2, DEL c1)')
  t.same((existsSync(otherMarker) ? readFileSync(otherMarker, 'utf8') : '').split('\n').filter((l) => l !== ''), ['exec ADD', 'exec ADD', 'exec DEL'], 'the other build was exec\'d')
})

t.test('the reference host-local in CNI_PATH is exec\'d and works', { skip: skipRef }, async (t) => {
  const b = bins(t)
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const o = { dir: b.dir, path: `${REF_DIR}:${b.dir}` }
  // the reference supports up to 1.0.0
  const conf = rg.conf({ cniVersion: '1.0.0' })
  const add = rg.run('ADD', c1, conf, o)
  ok(t, add, 'ADD')
  t.match(lease(add), { ips: [{ address: '10.79.0.2/24' }, { address: 'fd00:79::2/64' }] })
  t.same(rg.leases(), ['10.79.0.2', 'fd00:79::2'])
  t.notOk(existsSync(join(rg.dataDir, NET, '.berth-index')), 'the reference made the reservations (berth would index them)')
  ok(t, rg.run('CHECK', c1, { ...conf, prevResult: add.json }, o), 'CHECK')
  ok(t, rg.run('DEL', c1, conf, o), 'DEL')
  t.same(rg.leases(), [])
  // Mixed install: the reference host-local in place of berth's, beside berth's bridge.
  copyFileSync(join(REF_DIR, 'host-local'), join(b.dir, 'host-local'))
  const mixed = { dir: b.dir, path: b.dir }
  const add2 = rg.run('ADD', c1, conf, mixed)
  ok(t, add2, 'ADD with the reference beside the bridge')
  t.equal(rg.leases().length, 2)
  t.notOk(existsSync(join(rg.dataDir, NET, '.berth-index')), 'the reference beside the bridge was exec\'d')
  ok(t, rg.run('DEL', c1, conf, mixed), 'DEL with the reference beside the bridge')
  t.same(rg.leases(), [])
  t.same(b.runs(), [], "berth's host-local did not run")
})

t.test('an ADD failing after in-process IPAM releases the reservation', { skip }, async (t) => {
  const b = bins(t)
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const o = { dir: b.dir, path: b.dir }
  rg.host.exec('ip', ['link', 'add', rg.bridge, 'type', 'bridge'])
  rg.host.exec('ip', ['addr', 'add', '10.99.0.1/24', 'dev', rg.bridge])
  const a = rg.run('ADD', c1, rg.conf(), o)
  t.match(a.json, { code: 101, msg: /already has an IP address different from 10\.79\.0\.1\/24/ })
  t.same(rg.leases(), [], 'IPAM reservation released by the rollback')
  t.same(rg.hostVeths(), [], 'veth removed')
  t.same(b.runs(), [], 'in-process: no host-local executable ran')
  ok(t, rg.run('ADD', c1, rg.conf({ forceAddress: true }), o), 'ADD with forceAddress')
  t.equal(rg.leases().length, 2, 'one address per range set, nothing left from the failed ADD')
  ok(t, rg.run('DEL', c1, rg.conf(), o), 'DEL')
  t.same(rg.leases(), [])
})
