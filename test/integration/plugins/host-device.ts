// bin/host-device against the kernel. The plugin runs inside a throw-away "host" namespace (nsenter),
// the container is another one, and a third plays the network a macvlan's parent is wired to; nothing
// touches the real host. IPAM is the reference host-local from /usr/lib/cni with a per-test dataDir.
import t, { type Test } from 'tap'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsLinkKind, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { containerId, uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'

const REF = '/usr/lib/cni'
const skip = needsRoot() || needsBuiltBin('host-device', BIN_DIR)
const skipIpam = skip || (existsSync(join(REF, 'host-local')) ? false : `no reference host-local in ${REF}`)
const skipMacvlan = skip || needsLinkKind('macvlan')

interface Rig {
  host: TestNetns
  cont: TestNetns
  stateDir: string
  dataDir: string
  id: string
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  const cont = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  return { host, cont, stateDir: t.testdir(), dataDir: t.testdir(), id: containerId() }
}

interface Call {
  command: string
  conf: Record<string, unknown>
  ifName?: string
  netns?: string
  id?: string
}

function run(r: Rig, c: Call): PluginRun {
  return runPlugin('host-device', {
    command: c.command,
    containerId: c.id ?? r.id,
    netns: c.netns ?? r.cont.path,
    ifName: c.ifName ?? 'eth0',
    path: REF,
    hostNetns: r.host.path,
    // 1.0.0: the newest version the reference host-local speaks
    stdin: { cniVersion: '1.0.0', name: 'hdnet', type: 'host-device', stateDir: r.stateDir, ...c.conf },
  })
}

const ipam = (r: Rig) => ({
  type: 'host-local',
  dataDir: r.dataDir,
  ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.77.0.1', rangeStart: '10.77.0.10' }]],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '10.99.0.0/16', gw: '10.77.0.1' }],
})

interface IpLink {
  ifname: string
  mtu: number
  flags: string[]
  address: string
  addr_info?: { local: string; prefixlen: number }[]
}

/** `ip addr show NAME` in ns, or undefined when there is no such link. */
function link(ns: TestNetns, name: string): IpLink | undefined {
  try {
    return (ns.ipJson(['addr', 'show', 'dev', name]) as IpLink[])[0]
  } catch {
    return undefined
  }
}
const addrs = (l: IpLink | undefined) => (l?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).filter((a) => !a.startsWith('fe80:'))
const stateFiles = (r: Rig) => (existsSync(join(r.stateDir, 'hdnet')) ? readdirSync(join(r.stateDir, 'hdnet')).filter((f) => f.endsWith('.json')) : [])
const leases = (r: Rig) => (existsSync(join(r.dataDir, 'hdnet')) ? readdirSync(join(r.dataDir, 'hdnet')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [])

/** A veth pair in the host: `name` is handed over, its peer stays. MTU 1400 and an address, to see them restored. */
function hostVeth(r: Rig, name: string): string {
  const peer = uniqueName('p')
  r.host.exec('ip', ['link', 'add', name, 'mtu', '1400', 'type', 'veth', 'peer', 'name', peer])
  r.host.exec('ip', ['addr', 'add', '192.0.2.5/24', 'dev', name])
  r.host.exec('ip', ['link', 'set', name, 'up'])
  r.host.exec('ip', ['link', 'set', peer, 'up'])
  return peer
}

/** A "LAN" namespace wired to the host by a veth (parent par in the host), with 10.77.0.1 on its end. */
async function lan(t: Test, r: Rig): Promise<{ lan: TestNetns; parent: string }> {
  const l = await createTestNetns(t)
  const parent = uniqueName('par')
  r.host.exec('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', l.name])
  r.host.exec('ip', ['link', 'set', parent, 'up'])
  l.exec('ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'lan0'])
  l.exec('ip', ['link', 'set', 'lan0', 'up'])
  return { lan: l, parent }
}

function expectError(t: Test, res: PluginRun, code: number, msg: RegExp): void {
  t.not(res.status, 0, 'fails')
  t.equal(res.json?.['code'], code, `code ${code}: ${res.stdout}`)
  t.match(String(res.json?.['msg']), msg)
}

function expectRestored(t: Test, r: Rig, name: string, want: { mtu: number; addrs: string[]; up: boolean }): void {
  const l = link(r.host, name)
  t.ok(l, `${name} is back in the host under its own name`)
  t.equal(l?.mtu, want.mtu, 'MTU restored')
  t.same(addrs(l), want.addrs, 'addresses restored')
  t.equal(l?.flags.includes('UP'), want.up, `link ${want.up ? 'up' : 'down'} as before`)
  t.notOk(link(r.cont, 'eth0'), 'nothing left in the container')
}

t.test('veth end without IPAM: ADD, CHECK, DEL, DEL', { skip }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const mac = link(r.host, dev)?.address
  const add = run(r, { command: 'ADD', conf: { device: dev } })
  t.equal(add.status, 0, add.stdout + add.stderr)
  t.same(add.json, { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac, sandbox: r.cont.path }] })
  t.notOk(link(r.host, dev), 'gone from the host')
  const inCont = link(r.cont, 'eth0')
  t.ok(inCont?.flags.includes('UP'), 'eth0 is up in the container')
  t.equal(inCont?.address, mac)
  t.same(stateFiles(r), [`${r.id}-eth0.json`], 'state recorded')

  const check = run(r, { command: 'CHECK', conf: { device: dev, prevResult: add.json } })
  t.equal(check.status, 0, check.stdout)

  // The container changes what it was given; DEL puts back what the host had.
  r.cont.exec('ip', ['link', 'set', 'eth0', 'mtu', '1300'])
  r.cont.exec('ip', ['addr', 'add', '198.51.100.7/24', 'dev', 'eth0'])
  const del = run(r, { command: 'DEL', conf: { device: dev, prevResult: add.json } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  t.equal(del.stdout, '')
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.same(stateFiles(r), [], 'state removed')
  t.equal(run(r, { command: 'DEL', conf: { device: dev } }).status, 0, 'second DEL succeeds')
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
})

t.test('a down device comes back down; hwaddr selects it', { skip }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  r.host.exec('ip', ['link', 'set', dev, 'down'])
  const mac = link(r.host, dev)?.address ?? ''
  const add = run(r, { command: 'ADD', ifName: 'net1', conf: { hwaddr: mac.toUpperCase() } })
  t.equal(add.status, 0, add.stdout)
  t.ok(link(r.cont, 'net1')?.flags.includes('UP'), 'up in the container')
  const del = run(r, { command: 'DEL', ifName: 'net1', conf: { hwaddr: mac } })
  t.equal(del.status, 0, del.stdout)
  const l = link(r.host, dev)
  t.ok(l, 'back under its name')
  t.notOk(l?.flags.includes('UP'), 'down again')
})

t.test('veth end with IPAM: addresses and routes in the container, released on DEL', { skip: skipIpam }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const add = run(r, { command: 'ADD', conf: { device: dev, ipam: ipam(r) } })
  t.equal(add.status, 0, add.stdout + add.stderr)
  t.match(add.json, {
    interfaces: [{ name: 'eth0', sandbox: r.cont.path }],
    ips: [{ address: '10.77.0.10/24', gateway: '10.77.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '10.99.0.0/16', gw: '10.77.0.1' }],
  })
  t.same(addrs(link(r.cont, 'eth0')), ['10.77.0.10/24'])
  const routes = r.cont.ipJson(['route', 'show']) as { dst: string; gateway?: string }[]
  t.ok(routes.some((x) => x.dst === 'default' && x.gateway === '10.77.0.1'), 'default route via the gateway')
  t.ok(routes.some((x) => x.dst === '10.99.0.0/16' && x.gateway === '10.77.0.1'), 'extra route')
  t.same(leases(r), ['10.77.0.10'], 'lease taken')
  const check = run(r, { command: 'CHECK', conf: { device: dev, ipam: ipam(r), prevResult: add.json } })
  t.equal(check.status, 0, check.stdout)
  r.cont.exec('ip', ['addr', 'del', '10.77.0.10/24', 'dev', 'eth0'])
  const bad = run(r, { command: 'CHECK', conf: { device: dev, ipam: ipam(r), prevResult: add.json } })
  expectError(t, bad, 103, /lacks address 10\.77\.0\.10\/24/)
  const del = run(r, { command: 'DEL', conf: { device: dev, ipam: ipam(r), prevResult: add.json } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.same(leases(r), [], 'lease released')
})

for (const withIpam of [false, true]) {
  t.test(`macvlan ${withIpam ? 'with' : 'without'} IPAM: traffic flows both ways, DEL restores it`, { skip: withIpam ? skipIpam || skipMacvlan : skipMacvlan }, async (t) => {
    const r = await rig(t)
    const { lan: l, parent } = await lan(t, r)
    const mv = uniqueName('mv')
    r.host.exec('ip', ['link', 'add', mv, 'link', parent, 'mtu', '1450', 'type', 'macvlan', 'mode', 'bridge'])
    const add = run(r, { command: 'ADD', conf: { device: mv, ...(withIpam ? { ipam: ipam(r) } : {}) } })
    t.equal(add.status, 0, add.stdout + add.stderr)
    if (!withIpam) r.cont.exec('ip', ['addr', 'add', '10.77.0.10/24', 'dev', 'eth0'])
    t.same(addrs(link(r.cont, 'eth0')), ['10.77.0.10/24'])
    r.cont.exec('ping', ['-c', '1', '-W', '3', '10.77.0.1'])
    l.exec('ping', ['-c', '1', '-W', '3', '10.77.0.10'])
    t.pass('ping container <-> LAN over the moved macvlan')
    const del = run(r, { command: 'DEL', conf: { device: mv, ...(withIpam ? { ipam: ipam(r) } : {}) } })
    t.equal(del.status, 0, del.stdout + del.stderr)
    expectRestored(t, r, mv, { mtu: 1450, addrs: [], up: false })
    if (withIpam) t.same(leases(r), [], 'lease released')
  })
}

t.test('namespace deleted before DEL: a veth end is gone with its peer, DEL succeeds', { skip: skipIpam }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  const peer = hostVeth(r, dev)
  const add = run(r, { command: 'ADD', conf: { device: dev, ipam: ipam(r) } })
  t.equal(add.status, 0, add.stdout)
  const netns = r.cont.path
  r.cont.destroy()
  await waitGone(() => link(r.host, peer) !== undefined)
  t.notOk(link(r.host, peer), 'the veth pair died with the namespace (its host peer too)')
  const del = run(r, { command: 'DEL', netns, conf: { device: dev, ipam: ipam(r) } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  t.notOk(link(r.host, dev), 'no device to restore')
  t.same(stateFiles(r), [], 'state removed')
  t.same(leases(r), [], 'lease released')
  t.equal(run(r, { command: 'DEL', netns: '', conf: { device: dev, ipam: ipam(r) } }).status, 0, 'second DEL, no netns')
})

t.test('namespace deleted before DEL: a macvlan is gone, its parent stays, DEL succeeds', { skip: skipIpam || skipMacvlan }, async (t) => {
  const r = await rig(t)
  const { parent } = await lan(t, r)
  const mv = uniqueName('mv')
  r.host.exec('ip', ['link', 'add', mv, 'link', parent, 'type', 'macvlan', 'mode', 'bridge'])
  const add = run(r, { command: 'ADD', conf: { device: mv, ipam: ipam(r) } })
  t.equal(add.status, 0, add.stdout)
  r.cont.destroy()
  const del = run(r, { command: 'DEL', netns: '', conf: { device: mv, ipam: ipam(r) } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  t.notOk(link(r.host, mv), 'the macvlan was deleted with the namespace')
  t.ok(link(r.host, parent), 'its parent is still there')
  t.same(stateFiles(r), [], 'state removed')
  t.same(leases(r), [], 'lease released')
})

t.test('namespace deleted before DEL: a device the kernel returned to the host is renamed and restored', { skip }, async (t) => {
  // What the kernel does with a physical device when its namespace dies (it returns it to the initial
  // namespace under its container name), done by hand with a veth, since tests have no spare NIC.
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const add = run(r, { command: 'ADD', conf: { device: dev } })
  t.equal(add.status, 0, add.stdout)
  r.cont.exec('ip', ['link', 'set', 'eth0', 'mtu', '1280'])
  r.cont.exec('ip', ['link', 'set', 'eth0', 'netns', r.host.name])
  t.ok(link(r.host, 'eth0'), 'back in the host as eth0')
  const netns = r.cont.path
  r.cont.destroy()
  const del = run(r, { command: 'DEL', netns, conf: { device: dev } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  t.notOk(link(r.host, 'eth0'), 'eth0 renamed')
  const l = link(r.host, dev)
  t.equal(l?.mtu, 1400, 'MTU restored')
  t.same(addrs(l), ['192.0.2.5/24'], 'address restored')
  t.ok(l?.flags.includes('UP'), 'up again')
  t.same(stateFiles(r), [], 'state removed')
})

t.test('bad input: coded errors, and the device stays where it was', { skip }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const untouched = () => {
    const l = link(r.host, dev)
    t.ok(l?.flags.includes('UP') && l.mtu === 1400 && addrs(l).join() === '192.0.2.5/24', `${dev} still in the host, unchanged`)
  }
  expectError(t, run(r, { command: 'ADD', conf: {} }), 7, /specify one of "device", "hwaddr", "kernelpath" or "pciBusID"/)
  expectError(t, run(r, { command: 'ADD', conf: { device: dev, hwaddr: '02:00:00:00:00:01' } }), 7, /only one of .*got device, hwaddr/)
  expectError(t, run(r, { command: 'ADD', conf: { device: dev, runtimeConfig: { deviceID: '0000:03:00.1' } } }), 7, /runtimeConfig\.deviceID/)
  expectError(t, run(r, { command: 'ADD', conf: { device: 'btnosuchdev0' } }), 7, /host device device "btnosuchdev0" not found/)
  expectError(t, run(r, { command: 'ADD', conf: { hwaddr: '02:00:00:00:be:ef' } }), 7, /hwaddr "02:00:00:00:be:ef" not found/)
  expectError(t, run(r, { command: 'ADD', conf: { device: 'a/b' } }), 7, /device/)
  expectError(t, run(r, { command: 'ADD', conf: { kernelpath: '/etc/passwd' } }), 7, /kernelpath/)
  expectError(t, run(r, { command: 'ADD', conf: { device: 'lo' } }), 7, /lo is a loopback device/)
  const br = uniqueName('br')
  r.host.exec('ip', ['link', 'add', br, 'type', 'bridge'])
  expectError(t, run(r, { command: 'ADD', conf: { device: br } }), 7, new RegExp(`${br} is a bridge`))
  t.ok(link(r.host, br), 'bridge left alone')
  r.cont.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'])
  expectError(t, run(r, { command: 'ADD', conf: { device: dev } }), 101, new RegExp(`${dev} .*already has an interface eth0`))
  untouched()
  t.same(stateFiles(r), [], 'no state left behind')

  // Taken by one container, refused for another.
  const add = run(r, { command: 'ADD', ifName: 'net1', conf: { device: dev } })
  t.equal(add.status, 0, add.stdout)
  const other = await createTestNetns(t)
  expectError(t, run(r, { command: 'ADD', netns: other.path, id: 'other', conf: { device: dev } }), 101, new RegExp(`${dev}.*already in use.*container ${r.id} as net1`))
  expectError(t, run(r, { command: 'ADD', ifName: 'net1', conf: { device: dev } }), 101, /already has net1 from host-device.*DEL first/)
  t.equal(run(r, { command: 'DEL', ifName: 'net1', conf: { device: dev } }).status, 0)
  untouched()
})

t.test('a failure after the move (IPAM) puts the device back as it was', { skip }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const res = run(r, { command: 'ADD', conf: { device: dev, ipam: { type: 'berth-no-such-ipam' } } })
  t.not(res.status, 0)
  t.match(String(res.json?.['msg']), /berth-no-such-ipam/)
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.same(stateFiles(r), [], 'no state left behind')
})

t.test('a failure after IPAM (a route the kernel refuses) releases the lease and puts the device back', { skip: skipIpam }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  // a gateway on no network of the container's: the kernel has no way to reach it
  const conf = { device: dev, ipam: { ...ipam(r), routes: [{ dst: '10.99.0.0/16', gw: '192.0.2.99' }] } }
  const res = run(r, { command: 'ADD', conf })
  t.not(res.status, 0)
  t.match(String(res.json?.['msg']), /10\.99\.0\.0\/16 via 192\.0\.2\.99.*ENETUNREACH/)
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.same(stateFiles(r), [], 'no state left behind')
  t.same(leases(r), [], 'lease released')
})

for (const kind of ['ipvlan', 'dummy']) {
  t.test(`${kind}: ADD and DEL`, { skip: skip || needsLinkKind(kind) }, async (t) => {
    const r = await rig(t)
    const dev = uniqueName(kind.slice(0, 2))
    if (kind === 'ipvlan') {
      const parent = uniqueName('par')
      r.host.exec('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', uniqueName('q')])
      r.host.exec('ip', ['link', 'add', dev, 'link', parent, 'type', 'ipvlan', 'mode', 'l2'])
    } else {
      r.host.exec('ip', ['link', 'add', dev, 'type', kind])
    }
    r.host.exec('ip', ['link', 'set', dev, 'mtu', '1300'])
    const add = run(r, { command: 'ADD', conf: { device: dev } })
    t.equal(add.status, 0, add.stdout)
    t.ok(link(r.cont, 'eth0'), 'in the container')
    t.equal(run(r, { command: 'DEL', conf: { device: dev } }).status, 0)
    expectRestored(t, r, dev, { mtu: 1300, addrs: [], up: false })
  })
}

const skipRef = skip || (existsSync(join(REF, 'host-device')) ? false : `no reference host-device in ${REF}`)

t.test('side by side with the reference host-device: same result, and each DELs what the other ADDed', { skip: skipRef }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  const stdin = { cniVersion: '1.0.0', name: 'hdnet', type: 'host-device', device: dev }
  const ref = (command: string) =>
    runPlugin('host-device', { command, containerId: r.id, netns: r.cont.path, ifName: 'eth0', path: REF, dir: REF, hostNetns: r.host.path, stdin })
  const refAdd = ref('ADD')
  t.equal(refAdd.status, 0, refAdd.stdout + refAdd.stderr)
  // berth's DEL of the reference's ADD (no state file: the alias names the device)
  const del = run(r, { command: 'DEL', conf: { device: dev } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  // The reference records nothing else: the device comes back down, without its address.
  expectRestored(t, r, dev, { mtu: 1400, addrs: [], up: false })
  r.host.exec('ip', ['addr', 'add', '192.0.2.5/24', 'dev', dev])
  r.host.exec('ip', ['link', 'set', dev, 'up'])

  const add = run(r, { command: 'ADD', conf: { device: dev } })
  t.equal(add.status, 0, add.stdout)
  const { dns: _d1, ...ours } = add.json ?? {}
  const { dns: _d2, ...theirs } = refAdd.json ?? {}
  t.same(ours, theirs, 'the same result as the reference')
  // the reference's DEL of berth's ADD
  const refDel = ref('DEL')
  t.equal(refDel.status, 0, refDel.stdout + refDel.stderr)
  t.ok(link(r.host, dev), 'the reference moved it back under its name')
  // berth's state for it is stale now; its DEL finds the device in the host and restores the rest
  t.equal(run(r, { command: 'DEL', conf: { device: dev } }).status, 0)
  expectRestored(t, r, dev, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.same(stateFiles(r), [])
})

t.test('GC returns the devices of attachments the runtime no longer lists; STATUS succeeds', { skip }, async (t) => {
  const r = await rig(t)
  const keep = uniqueName('hd')
  const drop = uniqueName('hd')
  hostVeth(r, keep)
  hostVeth(r, drop)
  t.equal(run(r, { command: 'ADD', ifName: 'net1', conf: { device: keep } }).status, 0)
  t.equal(run(r, { command: 'ADD', ifName: 'net2', conf: { device: drop } }).status, 0)
  const env = { CNI_COMMAND: 'GC', CNI_PATH: REF }
  const conf = { cniVersion: '1.1.0', name: 'hdnet', type: 'host-device', stateDir: r.stateDir, 'cni.dev/valid-attachments': [{ containerID: r.id, ifname: 'net1' }] }
  const gc = runPlugin('host-device', { env, hostNetns: r.host.path, stdin: conf })
  t.equal(gc.status, 0, gc.stdout + gc.stderr)
  expectRestored(t, r, drop, { mtu: 1400, addrs: ['192.0.2.5/24'], up: true })
  t.ok(link(r.cont, 'net1'), 'the valid attachment is untouched')
  t.same(stateFiles(r), [`${r.id}-net1.json`])
  const status = runPlugin('host-device', { env: { ...env, CNI_COMMAND: 'STATUS' }, hostNetns: r.host.path, stdin: conf })
  t.equal(status.status, 0, status.stdout)
})

t.test('DEL finds the device by MAC or alias, and never takes a stranger that took its name', { skip }, async (t) => {
  const r = await rig(t)
  const dev = uniqueName('hd')
  hostVeth(r, dev)
  t.equal(run(r, { command: 'ADD', conf: { device: dev } }).status, 0)
  r.cont.exec('ip', ['link', 'set', 'eth0', 'address', '02:00:00:12:34:56'])
  t.equal(run(r, { command: 'DEL', conf: { device: dev } }).status, 0, 'MAC changed in the container: found by alias')
  t.ok(link(r.host, dev), 'back in the host')

  t.equal(run(r, { command: 'ADD', conf: { device: dev } }).status, 0)
  r.cont.exec('ip', ['link', 'del', 'eth0'])
  r.cont.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'stranger0'])
  const del = run(r, { command: 'DEL', conf: { device: dev } })
  t.equal(del.status, 0, del.stdout + del.stderr)
  t.ok(link(r.cont, 'eth0'), "the container's other eth0 stays")
  t.notOk(link(r.host, dev), 'nothing moved to the host')
  t.same(stateFiles(r), [])
})

t.test('results in older spec versions', { skip }, async (t) => {
  for (const v of ['0.3.1', '0.4.0', '1.1.0']) {
    const r = await rig(t)
    const dev = uniqueName('hd')
    hostVeth(r, dev)
    const add = runPlugin('host-device', {
      command: 'ADD', containerId: r.id, netns: r.cont.path, ifName: 'eth0', path: REF, hostNetns: r.host.path,
      stdin: { cniVersion: v, name: 'hdnet', type: 'host-device', stateDir: r.stateDir, device: dev },
    })
    t.equal(add.status, 0, add.stdout)
    t.equal(add.json?.['cniVersion'], v)
    t.match(add.json, { interfaces: [{ name: 'eth0', sandbox: r.cont.path }] })
    const del = runPlugin('host-device', {
      command: 'DEL', containerId: r.id, netns: r.cont.path, ifName: 'eth0', path: REF, hostNetns: r.host.path,
      stdin: { cniVersion: v, name: 'hdnet', type: 'host-device', stateDir: r.stateDir, device: dev },
    })
    t.equal(del.status, 0, del.stdout)
    t.ok(link(r.host, dev), `${v}: restored`)
  }
})

async function waitGone(present: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (present() && Date.now() < end) await new Promise((res) => setTimeout(res, 50))
}
