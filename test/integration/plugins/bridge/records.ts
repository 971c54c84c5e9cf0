// bin/bridge's attachment records (plugins/bridge/state.ts) against the kernel, in a throw-away "host"
// namespace: DEL removes what a record names by key and name; without a record, or when the record and
// the kernel disagree, it falls back to listing by owner; ADD replaces leftovers without listing.
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { uniqueName } from '../../../helpers/names.js'
import { BIN_DIR } from '../../../helpers/paths.js'
import { masqOwner } from '../../../../plugins/bridge/masq.js'
import { stateDirOfNetns } from '../../../../plugins/bridge/state.js'

const skip = needsRoot() || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)
const NET = 'rectest'

interface Rig {
  host: TestNetns
  state: string
  conf: Record<string, unknown>
  run(command: string, cont: TestNetns | string, id: string, extra?: Record<string, unknown>): PluginRun
  leases(): string[]
  hostVeths(): string[]
  nat(): { val: string; comment?: string; target?: string }[]
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const state = stateDirOfNetns(host.path)
  // The namespace is new: a directory of that name is a leftover of a dead namespace whose inode was reused.
  rmSync(state, { recursive: true, force: true })
  t.teardown(() => rmSync(state, { recursive: true, force: true }))
  const dataDir = t.testdir()
  const conf = { cniVersion: '1.1.0', name: NET, type: 'bridge', bridge: uniqueName('br'), isGateway: true, ipMasq: true, macspoofchk: true, ipam: { type: 'host-local', dataDir, subnet: '10.78.0.0/24' } }
  return {
    host,
    state,
    conf,
    run: (command, cont, id, extra = {}) =>
      runPlugin('bridge', { command, netns: typeof cont === 'string' ? cont : cont.path, ifName: 'eth0', containerId: id, path: BIN_DIR, stdin: { ...conf, ...extra }, hostNetns: host.path }),
    leases: () => {
      const dir = join(dataDir, NET)
      return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f) && !f.startsWith('last_reserved_ip')) : []
    },
    hostVeths: () => (host.ipJson(['link', 'show', 'type', 'veth']) as { ifname: string }[]).map((l) => l.ifname),
    nat: () => {
      const out = JSON.parse(host.exec('nft', ['-j', 'list', 'map', 'inet', 'berth_bridge', 'src4'])) as { nftables: { map?: { elem?: unknown[] } }[] }
      const elems = out.nftables.find((o) => o.map)?.map?.elem ?? []
      return elems.map((e) => {
        const [k, v] = e as [{ elem?: { val: string; comment?: string } } | string, { jump?: { target: string } }]
        const val = typeof k === 'string' ? k : (k.elem?.val ?? '')
        const comment = typeof k === 'string' ? undefined : k.elem?.comment
        return { val, ...(comment === undefined ? {} : { comment }), ...(v.jump ? { target: v.jump.target } : {}) }
      })
    },
  }
}

const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)
const hostVethOf = (r: PluginRun) => (r.json?.['interfaces'] as { name: string }[])[1]?.name ?? ''
const tagOf = (id: string) => masqOwner(NET, id, 'eth0').tag
const spoofText = (h: TestNetns) => h.exec('nft', ['list', 'table', 'bridge', 'berth_bridge_spoof'])

t.test('ADD records the attachment; DEL with no CNI_NETNS removes exactly what the record names', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const a1 = rg.run('ADD', c1, 'c1')
  ok(t, a1, 'ADD c1')
  ok(t, rg.run('ADD', c2, 'c2'), 'ADD c2')
  const rec = JSON.parse(readFileSync(join(rg.state, 'att', `${tagOf('c1')}.json`), 'utf8')) as Record<string, unknown>
  t.match(rec, { v: 1, network: NET, containerId: 'c1', ifName: 'eth0', hostVeth: { name: hostVethOf(a1) }, nat: { keys: ['10.78.0.2'] }, spoof: { port: hostVethOf(a1) } })
  t.equal(readFileSync(join(rg.state, 'nat', '10.78.0.2'), 'utf8'), tagOf('c1'), 'the NAT key names its owner')

  const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, BERTH_LOG_LEVEL: 'info' }
  const d = runPlugin('bridge', { env, stdin: rg.conf, hostNetns: rg.host.path })
  ok(t, d, 'DEL c1 without CNI_NETNS')
  t.match(d.stderr, `deleted host veth ${hostVethOf(a1)} (from the attachment record)`, 'the veth went by its recorded name')
  t.notMatch(d.stderr, /by key failed|by owner|by its owner tag/, 'NAT and spoof-check elements went by key: no fallback to listing')
  t.notOk(rg.hostVeths().includes(hostVethOf(a1)), 'host veth deleted by the recorded name')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.3'], "c1's NAT element gone, c2's kept")
  t.notMatch(spoofText(rg.host), hostVethOf(a1), "c1's spoof-check elements gone")
  t.same(rg.leases(), ['10.78.0.3'], 'lease released')
  t.notOk(existsSync(join(rg.state, 'att', `${tagOf('c1')}.json`)), 'record removed')
  t.notOk(existsSync(join(rg.state, 'nat', '10.78.0.2')), 'NAT key released')
  ok(t, rg.run('DEL', '', 'c1'), 'DEL again: nothing left to do')
  t.equal(rg.hostVeths().length, 1, "c2's veth kept")
})

t.test('without a record (an older berth made the attachment) DEL lists and removes everything by owner', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const a1 = rg.run('ADD', c1, 'c1')
  ok(t, a1, 'ADD c1')
  ok(t, rg.run('ADD', c2, 'c2'), 'ADD c2')
  rmSync(rg.state, { recursive: true, force: true })
  const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, BERTH_LOG_LEVEL: 'info' }
  const d = runPlugin('bridge', { env, stdin: rg.conf, hostNetns: rg.host.path })
  ok(t, d, 'DEL c1 without CNI_NETNS and without records')
  t.match(d.stderr, /deleted host veth \S+ by its owner tag/, 'the listing path was taken')
  t.notOk(rg.hostVeths().includes(hostVethOf(a1)), 'host veth found by its alias')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.3'], 'NAT element found by its comment')
  t.notMatch(spoofText(rg.host), hostVethOf(a1), 'spoof-check elements found by their comment')
  t.same(rg.leases(), ['10.78.0.3'])
})

t.test('a record that no longer matches the kernel (a dead namespace reused the directory) touches nothing else', { skip }, async (t) => {
  const rg = await rig(t)
  const c2 = await createTestNetns(t)
  const a2 = rg.run('ADD', c2, 'c2')
  ok(t, a2, 'ADD c2')
  // A leftover record of "c9" naming c2's address and veth, as if written in an earlier namespace.
  writeFileSync(
    join(rg.state, 'att', `${tagOf('c9')}.json`),
    JSON.stringify({ v: 1, network: NET, containerId: 'c9', ifName: 'eth0', hostVeth: { name: hostVethOf(a2) }, nat: { keys: ['10.78.0.2'] }, spoof: { port: 'vethdeadbeef', mac: '02:00:00:00:00:09' } }),
  )
  ok(t, rg.run('DEL', '', 'c9'), 'DEL c9')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.2'], "c2's NAT element kept: its key names c2")
  t.ok(rg.hostVeths().includes(hostVethOf(a2)), "c2's veth kept: its alias names c2")
  t.match(spoofText(rg.host), hostVethOf(a2))
  t.notOk(existsSync(join(rg.state, 'att', `${tagOf('c9')}.json`)), 'the stale record is gone')
  t.equal(readFileSync(join(rg.state, 'nat', '10.78.0.2'), 'utf8'), tagOf('c2'))
})

t.test('ADD replaces leftover elements holding its address: same network without listing, another network by listing', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const c3 = await createTestNetns(t)
  ok(t, rg.run('ADD', c1, 'c1'), 'ADD c1 (creates the table)')
  const chain = `net_${masqOwner(NET, 'c1', 'eth0').netHash}`
  // Leftovers for the next two addresses: one of this network (same verdict), one jumping elsewhere.
  rg.host.exec('nft', ['add', 'chain', 'inet', 'berth_bridge', 'net_other'])
  rg.host.exec('nft', ['add', 'element', 'inet', 'berth_bridge', 'src4', `{ 10.78.0.3 comment "${masqOwner(NET, 'old1', 'eth0').comment}" : jump ${chain} }`])
  rg.host.exec('nft', ['add', 'element', 'inet', 'berth_bridge', 'src4', '{ 10.78.0.4 comment "0000000000000000 net:other id:old2 if:eth0" : jump net_other }'])
  const add = (ns: TestNetns, id: string) =>
    runPlugin('bridge', { env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, BERTH_LOG_LEVEL: 'info' }, stdin: rg.conf, hostNetns: rg.host.path })
  const a2 = add(c2, 'c2')
  ok(t, a2, 'ADD c2 over a leftover of its network')
  t.notMatch(a2.stderr, /from a listing/, 'replaced without listing')
  const a3 = add(c3, 'c3')
  ok(t, a3, 'ADD c3 over a leftover of another network')
  t.match(a3.stderr, /adding 10\.78\.0\.4\/24 by key failed .*replacing leftovers from a listing/, 'the blind add fails (EEXIST), the listing path replaces it')
  const byVal = new Map(rg.nat().map((e) => [e.val, e]))
  t.match(byVal.get('10.78.0.3'), { comment: masqOwner(NET, 'c2', 'eth0').comment, target: chain }, 'replaced, with the new owner')
  t.match(byVal.get('10.78.0.4'), { comment: masqOwner(NET, 'c3', 'eth0').comment, target: chain }, 'replaced, now jumping to this network')
  ok(t, rg.run('CHECK', c2, 'c2', { prevResult: a2.json }), 'CHECK c2: its NAT element is its own')
  ok(t, rg.run('CHECK', c3, 'c3', { prevResult: a3.json }), 'CHECK c3 too')
  ok(t, rg.run('DEL', c2, 'c2'), 'DEL c2')
  ok(t, rg.run('DEL', c3, 'c3'), 'DEL c3')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.2'])
})

t.test('GC removes the records of attachments that are no longer valid', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  ok(t, rg.run('ADD', c1, 'c1'), 'ADD c1')
  ok(t, rg.run('ADD', c2, 'c2'), 'ADD c2')
  const gc = runPlugin('bridge', { env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, stdin: { ...rg.conf, 'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }] }, hostNetns: rg.host.path })
  ok(t, gc, 'GC')
  t.notOk(existsSync(join(rg.state, 'att', `${tagOf('c1')}.json`)), "c1's record collected")
  t.notOk(existsSync(join(rg.state, 'nat', '10.78.0.2')), "c1's NAT key collected")
  t.ok(existsSync(join(rg.state, 'att', `${tagOf('c2')}.json`)), "c2's record kept")
  t.same(rg.nat().map((e) => e.val), ['10.78.0.3'])
  ok(t, rg.run('DEL', c1, 'c1'), 'a late DEL of c1 succeeds')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.3'], "and leaves c2's element alone")
})

t.test('records cannot be written (the state path is a file): ADD still works and DEL lists instead', { skip }, async (t) => {
  const rg = await rig(t)
  writeFileSync(rg.state, 'not a directory')
  const c1 = await createTestNetns(t)
  const a1 = rg.run('ADD', c1, 'c1')
  ok(t, a1, 'ADD c1')
  t.match(a1.stderr, /attachment record: .* failed .*DEL will list instead/, 'a warning says so')
  t.same(rg.nat().map((e) => e.val), ['10.78.0.2'])
  ok(t, rg.run('DEL', '', 'c1'), 'DEL without CNI_NETNS')
  t.notOk(rg.hostVeths().includes(hostVethOf(a1)), 'host veth found by its alias')
  t.same(rg.nat(), [], 'NAT element found by its comment')
  t.same(rg.leases(), [])
})
