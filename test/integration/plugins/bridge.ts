// bin/bridge against the kernel. Every test makes a throw-away "host" namespace and runs the plugin
// inside it (nsenter), so bridges, host veths and sysctls never touch the real host. IPAM is berth's own
// host-local from bin/ with a per-test dataDir; one interop test mixes in the reference plugins.
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { hostRunner, runPlugin, type HostRunner, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, holdTestNetns, type TestNetns } from '../../helpers/netns.js'
import { containerId, uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { stateDirOfNetns } from '../../../plugins/bridge/state.js'

const REF = '/usr/lib/cni'
const skip = needsRoot() || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)
const NET = 'brtest'
/** the reference plugins (bridge, host-local) for the one interop test */
const refSkip = skip || (existsSync(join(REF, 'host-local')) && existsSync(join(REF, 'bridge')) ? false : `reference bridge/host-local not in ${REF} (scripts/setup installs them)`)

interface Rig {
  host: TestNetns
  dataDir: string
  bridge: string
  conf(v: string, extra?: Record<string, unknown>): Record<string, unknown>
  run: HostRunner
  /** IPs host-local still holds for the network */
  leases(): string[]
  hostVeths(): string[]
}

async function rig(t: Test, ipam: Record<string, unknown> = { ranges: [[{ subnet: '10.77.0.0/24' }]] }): Promise<Rig> {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  // The plugin's attachment records for this fake host (the namespace's inode number gets reused).
  const stateDir = stateDirOfNetns(host.path)
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }))
  const dataDir = t.testdir()
  const bridge = uniqueName('br')
  const r: Rig = {
    host,
    dataDir,
    bridge,
    conf: (v, extra = {}) => ({ cniVersion: v, name: NET, type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', dataDir, ...ipam }, ...extra }),
    run: hostRunner('bridge', host.path),
    leases: () => {
      const dir = join(dataDir, NET)
      return existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : []
    },
    hostVeths: () => (host.ipJson(['link', 'show', 'type', 'veth']) as { ifname: string }[]).map((l) => l.ifname),
  }
  return r
}

const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)
const links = (ns: TestNetns) => (ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname)

for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
  t.test(`ADD two containers, ping, CHECK, DEL, DEL again (cniVersion ${v}, dual stack)`, { skip }, async (t) => {
    const rg = await rig(t, { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] })
    const c1 = await createTestNetns(t)
    const c2 = await createTestNetns(t)
    const conf = rg.conf(v, { isDefaultGateway: true })
    const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
    ok(t, a1, 'ADD c1')
    const a2 = rg.run('ADD', c2, conf, { id: 'c2' })
    ok(t, a2, 'ADD c2')

    const legacy = v.startsWith('0.')
    const res = a1.json as { interfaces: { name: string; mac?: string; sandbox?: string }[]; ips: Record<string, unknown>[]; routes: unknown[]; dns?: unknown }
    t.equal(res['cniVersion' as keyof typeof res], v)
    t.equal(res.interfaces.length, 3)
    t.match(res.interfaces[0], { name: rg.bridge, mac: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/ })
    t.notOk('sandbox' in (res.interfaces[0] ?? {}), 'bridge has no sandbox')
    t.match(res.interfaces[1], { name: /^veth[0-9a-f]{8}$/, mac: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/ })
    t.same(res.interfaces[2], { name: 'eth0', mac: res.interfaces[2]?.mac, sandbox: c1.path })
    t.match(res.ips, [
      { address: '10.77.0.2/24', gateway: '10.77.0.1', interface: 2, ...(legacy ? { version: '4' } : {}) },
      { address: 'fd77::2/64', gateway: 'fd77::1', interface: 2, ...(legacy ? { version: '6' } : {}) },
    ])
    if (!legacy) t.notOk(res.ips.some((ip) => 'version' in ip), 'no ips[].version in 1.x')
    t.same(res.routes, [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }, { dst: '::/0', gw: 'fd77::1' }])
    if (legacy) t.same(res.dns, {}, '0.x always prints dns')

    // The kernel matches the result.
    const eth0 = (c1.ipJson(['addr', 'show', 'eth0']) as { address: string; operstate: string; addr_info: { local: string; prefixlen: number }[] }[])[0]
    t.equal(eth0?.address, res.interfaces[2]?.mac, 'container MAC as reported')
    t.ok(eth0?.addr_info.some((x) => x.local === '10.77.0.2' && x.prefixlen === 24))
    const hostVeth = res.interfaces[1]?.name ?? ''
    const hv = (rg.host.ipJson(['-d', 'link', 'show', hostVeth]) as { master?: string; linkinfo?: { info_slave_data?: { hairpin?: boolean; isolated?: boolean } } }[])[0]
    t.equal(hv?.master, rg.bridge, 'host veth is a port of the bridge')
    t.equal(hv?.linkinfo?.info_slave_data?.hairpin, false, 'hairpin off by default')
    const brAddrs = (rg.host.ipJson(['addr', 'show', rg.bridge]) as { addr_info: { local: string; prefixlen: number }[] }[])[0]?.addr_info ?? []
    t.ok(brAddrs.some((x) => x.local === '10.77.0.1' && x.prefixlen === 24), 'gateway v4 on the bridge')
    t.ok(brAddrs.some((x) => x.local === 'fd77::1' && x.prefixlen === 64), 'gateway v6 on the bridge')
    t.equal(rg.host.exec('cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1', 'forwarding on in the host')

    // Connectivity: container to container, container to gateway, both families.
    c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
    c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.1'])
    c2.exec('ping', ['-c', '1', '-W', '3', '10.77.0.2'])
    c1.exec('ping', ['-6', '-c', '1', '-W', '3', 'fd77::3'])
    c1.exec('ping', ['-6', '-c', '1', '-W', '3', 'fd77::1'])

    ok(t, rg.run('CHECK', c1, { ...conf, prevResult: a1.json }, { id: 'c1' }), 'CHECK c1')
    ok(t, rg.run('CHECK', c2, { ...conf, prevResult: a2.json }, { id: 'c2' }), 'CHECK c2')

    const d1 = rg.run('DEL', c1, conf, { id: 'c1' })
    ok(t, d1, 'DEL c1')
    t.equal(d1.stdout, '', 'DEL prints nothing')
    t.notOk(links(c1).includes('eth0'), 'container interface gone')
    t.notOk(rg.hostVeths().includes(hostVeth), 'host veth gone')
    t.same(rg.leases().sort(), ['10.77.0.3', 'fd77::3'], 'c1 leases released, c2 kept')
    ok(t, rg.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1 again')
    ok(t, rg.run('DEL', c2, conf, { id: 'c2' }), 'DEL c2')
    t.same(rg.leases(), [], 'every lease released')
    t.same(rg.hostVeths(), [], 'no veth left on the host')
  })
}

t.test('layer 2 only (no IPAM): the interface comes up, no IPs; hairpin and port isolation on the port', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const conf = { cniVersion: '1.1.0', name: NET, type: 'bridge', bridge: rg.bridge, hairpinMode: true, portIsolation: true, mtu: 1400 }
  const a = rg.run('ADD', c1, conf)
  ok(t, a, 'ADD')
  t.notOk(a.json?.['ips'], 'no ips')
  const eth0 = (c1.ipJson(['link', 'show', 'eth0']) as { flags: string[]; mtu: number }[])[0]
  t.ok(eth0?.flags.includes('UP'), 'container interface up')
  t.equal(eth0?.mtu, 1400, 'container MTU')
  const br = (rg.host.ipJson(['link', 'show', rg.bridge]) as { mtu: number }[])[0]
  t.equal(br?.mtu, 1400, 'bridge MTU')
  const hostVeth = (a.json?.['interfaces'] as { name: string }[])[1]?.name ?? ''
  const hv = (rg.host.ipJson(['-d', 'link', 'show', hostVeth]) as { linkinfo?: { info_slave_data?: { hairpin?: boolean; isolated?: boolean } } }[])[0]
  t.equal(hv?.linkinfo?.info_slave_data?.hairpin, true, 'hairpin on')
  t.equal(hv?.linkinfo?.info_slave_data?.isolated, true, 'port isolated')
  ok(t, rg.run('CHECK', c1, { ...conf, prevResult: a.json }), 'CHECK')
  ok(t, rg.run('DEL', c1, conf), 'DEL')
  t.same(rg.hostVeths(), [])
})

t.test('the MAC capability and CNI_ARGS MAC set the container MAC', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const a1 = rg.run('ADD', c1, rg.conf('1.1.0', { runtimeConfig: { mac: '02:00:00:aa:bb:01' } }), { id: 'c1' })
  ok(t, a1, 'ADD with runtimeConfig.mac')
  t.equal((a1.json?.['interfaces'] as { mac: string }[])[2]?.mac, '02:00:00:aa:bb:01')
  const a2 = rg.run('ADD', c2, rg.conf('1.1.0'), { id: 'c2', args: 'IgnoreUnknown=1;MAC=02:00:00:aa:bb:02;K8S_POD_NAME=x' })
  ok(t, a2, 'ADD with CNI_ARGS MAC')
  t.equal((a2.json?.['interfaces'] as { mac: string }[])[2]?.mac, '02:00:00:aa:bb:02')
})

t.test('CHECK reports what no longer matches', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const conf = rg.conf('1.1.0', { isDefaultGateway: true })
  const a = rg.run('ADD', c1, conf)
  ok(t, a, 'ADD')
  const noPrev = rg.run('CHECK', c1, conf)
  t.match(noPrev.json, { code: 7, msg: /prevResult/ })
  c1.exec('ip', ['route', 'del', 'default'])
  t.match(rg.run('CHECK', c1, { ...conf, prevResult: a.json }).json, { code: 103, msg: /route 0\.0\.0\.0\/0 via 10\.77\.0\.1 .* not found/ })
  c1.exec('ip', ['addr', 'flush', 'dev', 'eth0'])
  t.match(rg.run('CHECK', c1, { ...conf, prevResult: a.json }).json, { code: 103, msg: /lacks address 10\.77\.0\.2\/24/ })
  c1.exec('ip', ['link', 'set', 'eth0', 'address', '02:11:22:33:44:55'])
  t.match(rg.run('CHECK', c1, { ...conf, prevResult: a.json }).json, { code: 103, msg: /eth0 has MAC 02:11:22:33:44:55/ })
})

t.test('DEL after the container namespace is gone still releases IPAM; DEL without CNI_NETNS too', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.1.0')
  ok(t, rg.run('ADD', c1, conf, { id: 'c1' }), 'ADD c1')
  ok(t, rg.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  t.equal(rg.leases().length, 2)
  const gonePath = c1.path
  c1.destroy()
  for (let i = 0; i < 100 && existsSync(gonePath); i++) await new Promise((r) => setTimeout(r, 20))
  const d = rg.run('DEL', gonePath, conf, { id: 'c1' })
  ok(t, d, 'DEL with a deleted netns')
  t.same(rg.leases(), ['10.77.0.3'], 'c1 lease released')
  ok(t, rg.run('DEL', '', conf, { id: 'c2' }), 'DEL with no CNI_NETNS')
  t.same(rg.leases(), [], 'c2 lease released')
  t.same(rg.hostVeths(), [], "c2's host veth removed by its owner tag although CNI_NETNS was empty")
  t.notOk(links(c2).includes('eth0'), "and c2's container end with it")
})

t.test('DEL finds the host veth by its owner tag when the netns path is gone but the namespace lives on', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.1.0')
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  ok(t, rg.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  const veth1 = (a1.json?.['interfaces'] as { name: string }[])[1]?.name ?? ''
  const alias = (rg.host.ipJson(['link', 'show', veth1]) as { ifalias?: string }[])[0]?.ifalias
  t.match(alias, /^berth-bridge [0-9a-f]{16} net:brtest id:c1 if:eth0$/, 'host veth tagged with its owner')
  // Something else holds c1's namespace (as a container process would); then the path the runtime knew disappears.
  const held = holdTestNetns(t, c1).path
  t.equal(statSync(held).ino, statSync(c1.path).ino, 'namespace held under a second name')
  const gonePath = c1.path
  c1.destroy()
  t.notOk(existsSync(gonePath), 'netns path gone')
  t.ok(rg.hostVeths().includes(veth1), 'host veth still there (the namespace is alive)')
  ok(t, rg.run('DEL', gonePath, conf, { id: 'c1' }), 'DEL with the path gone')
  t.notOk(rg.hostVeths().includes(veth1), 'host veth deleted by its tag')
  t.equal(rg.hostVeths().length, 1, "c2's veth kept")
  t.same(rg.leases(), ['10.77.0.3'], 'c1 lease released')
  const inHeld = execFileSync('nsenter', [`--net=${held}`, '--', 'ip', '-j', 'link', 'show'], { encoding: 'utf8' })
  t.notOk((JSON.parse(inHeld) as { ifname: string }[]).some((l) => l.ifname === 'eth0'), 'container end gone from the live namespace')
  ok(t, rg.run('DEL', '', conf, { id: 'c1' }), 'DEL again, without CNI_NETNS')
  t.equal(rg.hostVeths().length, 1, "c2's veth still kept")
})

t.test('ADD failing halfway leaves nothing behind', { skip }, async (t) => {
  t.test('CNI_IFNAME already exists in the container', async (t) => {
    const rg = await rig(t)
    const c1 = await createTestNetns(t)
    c1.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'])
    const a = rg.run('ADD', c1, rg.conf('1.1.0'))
    t.match(a.json, { code: 101, msg: /"eth0" already exists/ })
    t.same(rg.hostVeths(), [], 'no veth on the host')
    t.same(rg.leases(), [], 'no lease')
  })

  t.test('the bridge name is taken by a link that is not a bridge', async (t) => {
    const rg = await rig(t)
    const c1 = await createTestNetns(t)
    rg.host.exec('ip', ['link', 'add', rg.bridge, 'type', 'veth', 'peer', 'name', 'peer0'])
    const a = rg.run('ADD', c1, rg.conf('1.1.0'))
    t.match(a.json, { code: 101, msg: new RegExp(`bridge "${rg.bridge}".*not a bridge`) })
    t.same(rg.hostVeths().sort(), [rg.bridge, 'peer0'].sort(), 'no new veth on the host')
    t.notOk(links(c1).includes('eth0'))
    t.same(rg.leases(), [])
  })

  t.test('after IPAM: the bridge holds another gateway address (no forceAddress)', async (t) => {
    const rg = await rig(t)
    const c1 = await createTestNetns(t)
    rg.host.exec('ip', ['link', 'add', rg.bridge, 'type', 'bridge'])
    rg.host.exec('ip', ['addr', 'add', '10.99.0.1/24', 'dev', rg.bridge])
    const a = rg.run('ADD', c1, rg.conf('1.1.0'))
    t.match(a.json, { code: 101, msg: /already has an IP address different from 10\.77\.0\.1\/24/ })
    t.same(rg.hostVeths(), [], 'veth removed')
    t.notOk(links(c1).includes('eth0'), 'container interface removed')
    t.same(rg.leases(), [], 'IPAM reservation released')
    t.ok(links(rg.host).includes(rg.bridge), 'the pre-existing bridge is kept')
    // forceAddress replaces it.
    ok(t, rg.run('ADD', c1, rg.conf('1.1.0', { forceAddress: true })), 'ADD with forceAddress')
  })

  t.test('the IPAM plugin cannot be run: a bridge this ADD created is removed too', async (t) => {
    const rg = await rig(t)
    const c1 = await createTestNetns(t)
    const a = rg.run('ADD', c1, { ...rg.conf('1.1.0'), ipam: { type: 'no-such-ipam' } })
    t.not(a.status, 0)
    t.match(a.json, { msg: /no-such-ipam/ })
    t.same(rg.hostVeths(), [])
    t.notOk(links(rg.host).includes(rg.bridge), 'bridge removed')
    t.notOk(links(c1).includes('eth0'))
  })
})

t.test('bad configuration values are code 7 naming the key', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const rows: [Record<string, unknown>, number, RegExp][] = [
    [{ mtu: 'big' }, 7, /mtu: expected number/],
    [{ vlan: 5000 }, 7, /vlan: must be <= 4094/],
    [{ isGateway: 'yes' }, 7, /isGateway: expected boolean/],
    [{ bridge: 'much-too-long-bridge-name' }, 7, /bridge: must be an interface name/],
    [{ ipMasqBackend: 'pf' }, 7, /ipMasqBackend/],
    [{ hairpinMode: true, promiscMode: true }, 7, /hairpinMode and promiscMode/],
    [{ vlan: 10, bridge: 'abcdefghijklm' }, 7, /bridge: the VLAN gateway interface "abcdefghijklm.10" would be longer than 15 bytes/],
  ]
  for (const [extra, code, msg] of rows) {
    const r = rg.run('ADD', c1, rg.conf('1.1.0', extra))
    t.not(r.status, 0)
    t.match(r.json, { code, msg }, JSON.stringify(extra))
  }
  t.same(rg.hostVeths(), [], 'nothing created')
  t.notOk(links(rg.host).includes(rg.bridge), 'no bridge created')
})

t.test('DEL of an attachment that never existed succeeds', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  ok(t, rg.run('DEL', c1, rg.conf('1.1.0'), { id: containerId() }), 'DEL')
})

/** The elements of berth's NAT map `name` in the fake host, as `nft -j` lists them. */
function natElements(host: TestNetns, name: string): { val: string; comment?: string }[] {
  let out: string
  try {
    out = host.exec('nft', ['-j', 'list', 'map', 'inet', 'berth_bridge', name])
  } catch {
    return []
  }
  const obj = (JSON.parse(out) as { nftables: { map?: { elem?: unknown[] } }[] }).nftables.find((o) => o.map)?.map
  return (obj?.elem ?? []).map((e) => {
    const k = (e as unknown[])[0] as { elem?: { val: string; comment?: string } } | string
    return typeof k === 'string' ? { val: k } : { val: k.elem?.val ?? '', ...(k.elem?.comment ? { comment: k.elem.comment } : {}) }
  })
}

t.test('ipMasq: containers reach a network that has no route back; DEL removes the elements by owner', { skip }, async (t) => {
  const rg = await rig(t, { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] })
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  // "outside": a namespace on a link from the fake host, with no route to the containers' subnets.
  const outside = await createTestNetns(t)
  rg.host.exec('ip', ['link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', outside.name])
  rg.host.exec('ip', ['addr', 'add', '192.168.200.1/24', 'dev', 'uplink0'])
  rg.host.exec('ip', ['link', 'set', 'uplink0', 'up'])
  outside.exec('ip', ['addr', 'add', '192.168.200.2/24', 'dev', 'wan0'])
  outside.exec('ip', ['link', 'set', 'wan0', 'up'])

  const conf = rg.conf('1.0.0', { isDefaultGateway: true, ipMasq: true })
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  ok(t, rg.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  c1.exec('ping', ['-c', '1', '-W', '3', '192.168.200.2'])
  t.pass('c1 reaches the outside through NAT')
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
  t.pass('c1 still reaches c2 directly')

  const v4 = natElements(rg.host, 'src4')
  t.same(v4.map((e) => e.val).sort(), ['10.77.0.2', '10.77.0.3'], 'one element per container address')
  t.match(v4.find((e) => e.val === '10.77.0.2')?.comment, /^[0-9a-f]{16} net:brtest id:c1 if:eth0$/)
  t.same(natElements(rg.host, 'src6').map((e) => e.val).sort(), ['fd77::2', 'fd77::3'])
  const chainsBefore = rg.host.exec('nft', ['list', 'table', 'inet', 'berth_bridge'])
  t.equal(chainsBefore.match(/masquerade/g)?.length, 1, 'one masquerade rule for the network, however many containers')
  t.equal(chainsBefore.match(/saddr vmap/g)?.length, 2, 'postrouting holds its two fixed rules')

  // The container's namespace disappears before DEL: the elements still go.
  const gone = c1.path
  c1.destroy()
  for (let i = 0; i < 100 && existsSync(gone); i++) await new Promise((r) => setTimeout(r, 20))
  ok(t, rg.run('DEL', gone, conf, { id: 'c1' }), 'DEL c1 with its netns gone')
  t.same(natElements(rg.host, 'src4').map((e) => e.val), ['10.77.0.3'], "c1's v4 element removed, c2's kept")
  t.same(natElements(rg.host, 'src6').map((e) => e.val), ['fd77::3'])
  ok(t, rg.run('DEL', '', conf, { id: 'c2' }), 'DEL c2 without CNI_NETNS')
  t.same(natElements(rg.host, 'src4'), [], 'no element left')
  t.same(natElements(rg.host, 'src6'), [])
  ok(t, rg.run('DEL', '', conf, { id: 'c2' }), 'DEL c2 again')
  t.same(rg.leases(), [])
})

/** The nat table as `iptables-save -t nat` (or ip6tables-save) prints it in the fake host, parsed. */
function natRules(host: TestNetns, family: 4 | 6): { chains: string[]; rules: { chain: string; line: string; comment?: string }[] } {
  const out = host.exec(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'nat'])
  const chains: string[] = []
  const rules: { chain: string; line: string; comment?: string }[] = []
  for (const line of out.split('\n')) {
    const c = /^:(\S+)/.exec(line)
    if (c) chains.push(c[1] ?? '')
    const r = /^-A (\S+) (.*)$/.exec(line)
    if (r) {
      const comment = /--comment "([^"]*)"/.exec(line)?.[1] ?? /--comment (\S+)/.exec(line)?.[1]
      rules.push({ chain: r[1] ?? '', line: r[2] ?? '', ...(comment === undefined ? {} : { comment }) })
    }
  }
  return { chains, rules }
}

/** Runs bin/bridge in the fake host without blocking the event loop, so several run at once. */
function runAsync(rg: Rig, command: string, netns: string, conf: object, id: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR }
    const child = spawn('nsenter', [`--net=${rg.host.path}`, '--', join(BIN_DIR, 'bridge')], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (out += b.toString()))
    child.on('close', (status) => resolve({ status, out }))
    child.stdin.end(JSON.stringify(conf))
  })
}

const hasIptables = existsSync('/usr/sbin/iptables-restore') && existsSync('/usr/sbin/ip6tables-restore') ? false : 'iptables-restore / ip6tables-restore not installed'

t.test('ipMasq with ipMasqBackend iptables: NAT to a network with no route back, one POSTROUTING jump, DEL removes exactly its rules', { skip: skip || hasIptables }, async (t) => {
  const rg = await rig(t, { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] })
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const outside = await createTestNetns(t)
  rg.host.exec('ip', ['link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', outside.name])
  rg.host.exec('ip', ['addr', 'add', '192.168.200.1/24', 'dev', 'uplink0'])
  rg.host.exec('ip', ['addr', 'add', 'fd99::1/64', 'dev', 'uplink0', 'nodad'])
  rg.host.exec('ip', ['link', 'set', 'uplink0', 'up'])
  outside.exec('ip', ['addr', 'add', '192.168.200.2/24', 'dev', 'wan0'])
  outside.exec('ip', ['addr', 'add', 'fd99::2/64', 'dev', 'wan0', 'nodad'])
  outside.exec('ip', ['link', 'set', 'wan0', 'up'])

  const conf = rg.conf('1.0.0', { isDefaultGateway: true, ipMasq: true, ipMasqBackend: 'iptables' })
  ok(t, rg.run('ADD', c1, conf, { id: 'c1' }), 'ADD c1')
  ok(t, rg.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  c1.exec('ping', ['-c', '1', '-W', '3', '192.168.200.2'])
  t.pass('c1 reaches the outside over IPv4 through NAT')
  c1.exec('ping', ['-6', '-c', '1', '-W', '3', 'fd99::2'])
  t.pass('c1 reaches the outside over IPv6 through NAT')
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
  t.pass('c1 still reaches c2 directly')
  t.throws(() => c1.exec('ping', ['-c', '1', '-W', '1', '224.0.0.1']), 'multicast is not masqueraded out (no route: fails)')

  for (const f of [4, 6] as const) {
    const nat = natRules(rg.host, f)
    const chain = nat.chains.find((c) => c.startsWith('BERTH-BR-')) ?? ''
    t.match(chain, /^BERTH-BR-[0-9a-f]{12}$/, `IPv${f}: one network chain`)
    const jumps = nat.rules.filter((r) => r.chain === 'POSTROUTING')
    t.equal(jumps.length, 1, `IPv${f}: one POSTROUTING rule for the network, however many containers`)
    t.match(jumps[0]?.line, new RegExp(`-j ${chain}$`))
    const mine = nat.rules.filter((r) => r.chain === chain)
    t.equal(mine.length, 4, `IPv${f}: two rules per container`)
    t.ok(mine.every((r) => /^[0-9a-f]{16} net:brtest id:c[12] if:eth0$/.test(r.comment ?? '')), `IPv${f}: every rule carries its owner`)
  }

  // c1's namespace disappears before DEL: its rules still go, and only its.
  const gone = c1.path
  c1.destroy()
  for (let i = 0; i < 100 && existsSync(gone); i++) await new Promise((r) => setTimeout(r, 20))
  ok(t, rg.run('DEL', gone, conf, { id: 'c1' }), 'DEL c1 with its netns gone')
  for (const f of [4, 6] as const) {
    const rules = natRules(rg.host, f).rules.filter((r) => r.chain.startsWith('BERTH-BR-'))
    t.equal(rules.length, 2, `IPv${f}: c2's two rules left`)
    t.ok(rules.every((r) => / id:c2 /.test(r.comment ?? '')), `IPv${f}: none of c1's`)
  }
  c2.exec('ping', ['-c', '1', '-W', '3', '192.168.200.2'])
  t.pass('c2 still reaches the outside')
  ok(t, rg.run('DEL', '', conf, { id: 'c2' }), 'DEL c2 without CNI_NETNS')
  for (const f of [4, 6] as const) t.same(natRules(rg.host, f).rules.filter((r) => r.chain.startsWith('BERTH-BR-')), [], `IPv${f}: no container rule left`)
  ok(t, rg.run('DEL', '', conf, { id: 'c2' }), 'DEL c2 again')
  t.same(rg.leases(), [])
})

t.test('ipMasq iptables: concurrent ADDs and DELs leave one jump and exactly the right rules; GC collects by owner', { skip: skip || hasIptables }, async (t) => {
  const rg = await rig(t)
  const conf = rg.conf('1.1.0', { ipMasq: true, ipMasqBackend: 'iptables' })
  const ns = await Promise.all([0, 1, 2, 3, 4].map(() => createTestNetns(t)))
  const adds = await Promise.all(ns.map((n, i) => runAsync(rg, 'ADD', n.path, conf, `p${i}`)))
  adds.forEach((r, i) => t.equal(r.status, 0, `ADD p${i}: ${r.out}`))
  const nat = natRules(rg.host, 4)
  t.equal(nat.rules.filter((r) => r.chain === 'POSTROUTING').length, 1, 'one POSTROUTING jump after racing first ADDs')
  t.equal(nat.rules.filter((r) => r.chain.startsWith('BERTH-BR-')).length, 10, 'two rules per container')
  const gc = runPlugin('bridge', { env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, stdin: { ...conf, 'cni.dev/valid-attachments': [0, 1, 2, 3].map((i) => ({ containerID: `p${i}`, ifname: 'eth0' })) }, hostNetns: rg.host.path })
  ok(t, gc, 'GC')
  t.notOk(natRules(rg.host, 4).rules.some((r) => / id:p4 /.test(r.comment ?? '')), "p4's rules collected")
  const dels = await Promise.all(ns.map((n, i) => runAsync(rg, 'DEL', n.path, conf, `p${i}`)))
  dels.forEach((r, i) => t.equal(r.status, 0, `DEL p${i}: ${r.out}`))
  const after = natRules(rg.host, 4)
  t.same(after.rules.filter((r) => r.chain.startsWith('BERTH-BR-')), [], 'no container rule left')
  t.equal(after.rules.filter((r) => r.chain === 'POSTROUTING').length, 1, 'the network jump stays (it holds no container state)')
  t.same(rg.leases(), [], `every lease released (${dels.map((r) => r.out).join(' ')})`)
})

t.test('ipMasq: an ADD failing after NAT setup removes its elements', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  // Make the NAT step itself fail: a set where berth's map src4 should be.
  rg.host.exec('nft', ['add', 'table', 'inet', 'berth_bridge'])
  rg.host.exec('nft', ['add', 'set', 'inet', 'berth_bridge', 'src4', '{ type ipv4_addr; }'])
  const a = rg.run('ADD', c1, rg.conf('1.0.0', { ipMasq: true }))
  t.match(a.json, { code: 102 })
  t.same(rg.hostVeths(), [], 'veth removed')
  t.same(rg.leases(), [], 'lease released')
})

t.test('IPv6 with enabledad: ADD waits for DAD, the address is usable', { skip }, async (t) => {
  const rg = await rig(t, { ranges: [[{ subnet: 'fd78::/64' }]] })
  const c1 = await createTestNetns(t)
  const a = rg.run('ADD', c1, rg.conf('1.0.0', { enabledad: true }))
  ok(t, a, 'ADD')
  const info = (c1.ipJson(['-6', 'addr', 'show', 'eth0']) as { addr_info: { local: string; tentative?: boolean }[] }[])[0]?.addr_info ?? []
  const mine = info.find((x) => x.local === 'fd78::2')
  t.ok(mine, 'address present')
  t.notOk(mine?.tentative, 'no longer tentative')
  c1.exec('ping', ['-6', '-c', '1', '-W', '3', 'fd78::1'])
  t.equal(c1.exec('cat', ['/proc/sys/net/ipv6/conf/eth0/accept_dad']).trim(), '1', 'accept_dad on')
})

t.test('interop: reference bridge with berth host-local, berth bridge with reference host-local, each DELs the other', { skip: refSkip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  // The reference plugins speak CNI up to 1.0.0.
  const conf = rg.conf('1.0.0', { isDefaultGateway: true })
  const refBridge = (command: string, ns: TestNetns, id: string, ipamDir: string) =>
    runPlugin('bridge', { command, netns: ns.path, ifName: 'eth0', containerId: id, path: ipamDir, stdin: conf, hostNetns: rg.host.path, dir: REF })
  const berthBridge = (command: string, ns: TestNetns, id: string, ipamDir: string) =>
    runPlugin('bridge', { command, netns: ns.path, ifName: 'eth0', containerId: id, path: ipamDir, stdin: conf, hostNetns: rg.host.path })
  const ref = refBridge('ADD', c1, 'c1', BIN_DIR)
  ok(t, ref, 'reference bridge ADD with berth host-local')
  const ours = berthBridge('ADD', c2, 'c2', REF)
  ok(t, ours, 'berth bridge ADD with reference host-local, on the same bridge and dataDir')
  t.match(ref.json, { ips: [{ address: '10.77.0.2/24' }] }, 'berth host-local leased the first address')
  t.match(ours.json, { ips: [{ address: '10.77.0.3/24' }] }, 'reference host-local saw that lease and took the next')
  const shape = (r: PluginRun) => {
    const j = r.json as { interfaces: { name: string }[]; ips: unknown[]; routes: unknown[] }
    return { names: j.interfaces.map((i) => i.name.replace(/^veth[0-9a-f]{8}$/, 'veth*')), ips: j.ips.length, routes: j.routes }
  }
  t.same(shape(ours), shape(ref), 'same result shape as the reference')
  c2.exec('ping', ['-c', '1', '-W', '3', '10.77.0.2'])
  const chk = runPlugin('bridge', { command: 'CHECK', netns: c1.path, ifName: 'eth0', containerId: 'c1', path: BIN_DIR, stdin: { ...conf, prevResult: ref.json }, hostNetns: rg.host.path })
  ok(t, chk, "berth CHECK of the reference's attachment")
  ok(t, berthBridge('DEL', c1, 'c1', REF), "berth bridge DEL of the reference's attachment, releasing through the reference host-local")
  ok(t, refBridge('DEL', c2, 'c2', BIN_DIR), "reference bridge DEL of berth's attachment, releasing through berth host-local")
  t.same(rg.hostVeths(), [])
  t.same(rg.leases(), [])
})

t.test('GC removes NAT and spoof-check elements of attachments that are no longer valid; STATUS succeeds', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.0.0', { ipMasq: true, macspoofchk: true })
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  const a2 = rg.run('ADD', c2, conf, { id: 'c2' })
  ok(t, a2, 'ADD c2')
  const mac = (r: PluginRun) => (r.json?.['interfaces'] as { mac: string }[])[2]?.mac ?? 'none'
  const spoof = () => rg.host.exec('nft', ['list', 'table', 'bridge', 'berth_bridge_spoof'])
  const env = { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }
  const gcConf = (valid: unknown) => ({ ...rg.conf('1.1.0', { ipMasq: true }), 'cni.dev/valid-attachments': valid, macspoofchk: true })
  ok(t, runPlugin('bridge', { env, stdin: rg.conf('1.1.0', { ipMasq: true }), hostNetns: rg.host.path }), 'GC without a list')
  t.equal(natElements(rg.host, 'src4').length, 2, 'no list: nothing collected')
  t.match(spoof(), mac(a1), 'no list: spoof-check elements kept')
  ok(t, runPlugin('bridge', { env, stdin: gcConf([{ containerID: 'c2', ifname: 'eth0' }]), hostNetns: rg.host.path }), 'GC')
  t.same(natElements(rg.host, 'src4').map((e) => e.val), ['10.77.0.3'], "only c2's element is left")
  t.notMatch(spoof(), mac(a1), "c1's spoof-check elements collected")
  t.match(spoof(), mac(a2), "c2's spoof-check elements kept")
  ok(t, runPlugin('bridge', { env: { ...env, CNI_COMMAND: 'STATUS' }, stdin: rg.conf('1.1.0'), hostNetns: rg.host.path }), 'STATUS')
})

t.test('macspoofchk: frames from another MAC are dropped at the port; DEL removes the elements', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.0.0', { macspoofchk: true })
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  const a2 = rg.run('ADD', c2, conf, { id: 'c2' })
  ok(t, a2, 'ADD c2')
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
  t.pass('c1 reaches c2 with its own MAC')
  const listing = rg.host.exec('nft', ['list', 'table', 'bridge', 'berth_bridge_spoof'])
  const mac1 = (a1.json?.['interfaces'] as { mac: string }[])[2]?.mac ?? ''
  t.match(listing, mac1, "c1's MAC is allowed on its port")
  c1.exec('ip', ['link', 'set', 'eth0', 'address', '02:de:ad:be:ef:01'])
  c1.exec('ip', ['neigh', 'flush', 'dev', 'eth0'])
  c2.exec('ip', ['neigh', 'flush', 'dev', 'eth0'])
  t.throws(() => c1.exec('ping', ['-c', '1', '-W', '1', '10.77.0.3']), 'a spoofed MAC gets nowhere')
  c1.exec('ip', ['link', 'set', 'eth0', 'address', mac1])
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
  t.pass('the real MAC works again')
  ok(t, rg.run('DEL', '', conf, { id: 'c1' }), 'DEL c1 without CNI_NETNS')
  const after = rg.host.exec('nft', ['list', 'table', 'bridge', 'berth_bridge_spoof'])
  t.notMatch(after, mac1, "c1's element removed")
  const mac2 = (a2.json?.['interfaces'] as { mac: string }[])[2]?.mac ?? 'none'
  t.match(after, mac2, "c2's element kept")
})

/** Whether this kernel can turn vlan_filtering on (probed in a throw-away namespace); false or the skip reason. */
function vlanFilteringProbe(): false | string {
  try {
    execFileSync('unshare', ['--net', 'ip', 'link', 'add', 'probe0', 'type', 'bridge', 'vlan_filtering', '1'], { stdio: 'pipe', timeout: 5000 })
    return false
  } catch (e) {
    const err = String((e as { stderr?: unknown }).stderr ?? e)
    return /not supported/i.test(err) ? 'kernel has no bridge VLAN filtering' : `vlan_filtering probe failed: ${err.trim()}`
  }
}
const noVlanFiltering = skip ? false : vlanFilteringProbe()

/** `bridge -j vlan show dev PORT` in the fake host: vid → flags. */
function portVlans(host: TestNetns, port: string): Map<number, string[]> {
  const out = JSON.parse(host.exec('bridge', ['-j', 'vlan', 'show', 'dev', port]) || '[]') as { ifname: string; vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[] }[]
  const m = new Map<number, string[]>()
  for (const p of out) for (const v of p.vlans) for (let id = v.vlan; id <= (v.vlanEnd ?? v.vlan); id++) m.set(id, v.flags ?? [])
  return m
}

t.test('vlan: access ports in one VLAN reach each other, not a port in another VLAN; default VLAN removed', { skip: skip || noVlanFiltering }, async (t) => {
  const rg = await rig(t)
  const [c1, c2, c3] = await Promise.all([createTestNetns(t), createTestNetns(t), createTestNetns(t)])
  const conf = (vlan: number) => rg.conf('1.1.0', { isGateway: false, vlan, preserveDefaultVlan: false })
  const a1 = rg.run('ADD', c1, conf(100), { id: 'c1' })
  ok(t, a1, 'ADD c1 in VLAN 100')
  ok(t, rg.run('ADD', c2, conf(100), { id: 'c2' }), 'ADD c2 in VLAN 100')
  ok(t, rg.run('ADD', c3, conf(200), { id: 'c3' }), 'ADD c3 in VLAN 200')
  const br = (rg.host.ipJson(['-d', 'link', 'show', rg.bridge]) as { linkinfo?: { info_data?: { vlan_filtering?: number } } }[])[0]
  t.equal(br?.linkinfo?.info_data?.vlan_filtering, 1, 'vlan_filtering on')
  const v = portVlans(rg.host, (a1.json?.['interfaces'] as { name: string }[])[1]?.name ?? '')
  t.same([...v.keys()], [100], 'only VLAN 100 on the port (default VLAN 1 removed)')
  t.ok(v.get(100)?.includes('PVID') && v.get(100)?.includes('Egress Untagged'), 'PVID, egress untagged')
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.3'])
  t.pass('same VLAN: reachable')
  t.throws(() => c1.exec('ping', ['-c', '1', '-W', '1', '10.77.0.4']), 'other VLAN: unreachable')
  for (const [ns, id] of [[c1, 'c1'], [c2, 'c2'], [c3, 'c3']] as const) ok(t, rg.run('DEL', ns, conf(100), { id }), `DEL ${id}`)
  t.same(rg.hostVeths(), [])
})

t.test('vlanTrunk: tagged ranges and ids on the port, default VLAN kept (preserveDefaultVlan)', { skip: skip || noVlanFiltering }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  const a = rg.run('ADD', c1, rg.conf('1.1.0', { isGateway: false, vlanTrunk: [{ minID: 10, maxID: 12 }, { id: 20 }] }))
  ok(t, a, 'ADD')
  const v = portVlans(rg.host, (a.json?.['interfaces'] as { name: string }[])[1]?.name ?? '')
  t.same([...v.keys()].sort((x, y) => x - y), [1, 10, 11, 12, 20])
  for (const id of [10, 11, 12, 20]) t.notOk(v.get(id)?.includes('Egress Untagged'), `VLAN ${id} tagged`)
})

t.test('vlan with isGateway: the gateway addresses on "<bridge>.<vlan>", whose peer is an access port of the VLAN', { skip: skip || noVlanFiltering }, async (t) => {
  const rg = await rig(t)
  const [c1, c2] = await Promise.all([createTestNetns(t), createTestNetns(t)])
  // VLAN 7: "<12-byte test bridge>.7" fits the 15-byte interface name limit.
  const conf = rg.conf('1.1.0', { isGateway: true, vlan: 7, preserveDefaultVlan: false })
  const gwName = `${rg.bridge}.7`
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  t.match(a1.json?.['interfaces'], [{ name: rg.bridge }, {}, { name: 'eth0' }, { name: gwName }], 'the gateway interface listed last, as the reference')
  const addrs = (dev: string) => (rg.host.ipJson(['-4', 'addr', 'show', 'dev', dev]) as { addr_info: { local: string; prefixlen: number }[] }[])[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)
  t.same(addrs(gwName), ['10.77.0.1/24'], 'gateway address on the VLAN interface')
  t.same(addrs(rg.bridge), [], 'not on the bridge')
  const peer = (rg.host.ipJson(['-d', 'link', 'show', 'master', rg.bridge]) as { ifname: string; link?: string }[]).find((l) => l.link === gwName)
  t.ok(peer, 'its peer is a bridge port')
  const v = portVlans(rg.host, peer?.ifname ?? '')
  t.same([...v.keys()], [7], 'in VLAN 7 only')
  t.ok(v.get(7)?.includes('PVID') && v.get(7)?.includes('Egress Untagged'))
  ok(t, rg.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2 reuses it')
  t.equal(links(rg.host).filter((n) => n === gwName).length, 1)
  c1.exec('ping', ['-c', '1', '-W', '3', '10.77.0.1'])
  t.pass('the container reaches its gateway in the VLAN')
  ok(t, rg.run('CHECK', c1, { ...conf, prevResult: a1.json }, { id: 'c1' }), 'CHECK with the extra interface')
  for (const [ns, id] of [[c1, 'c1'], [c2, 'c2']] as const) ok(t, rg.run('DEL', ns, conf, { id }), `DEL ${id}`)
  t.ok(links(rg.host).includes(gwName), 'DEL leaves the shared gateway (as the reference)')
})

t.test('vlan on a kernel without bridge VLAN filtering: coded error, nothing left behind', { skip: skip || (noVlanFiltering === false ? 'kernel has bridge VLAN filtering' : false) }, async (t) => {
  const rg = await rig(t)
  const c1 = await createTestNetns(t)
  for (const extra of [{ vlan: 100 }, { vlanTrunk: [{ id: 10 }] }, { vlan: 100, preserveDefaultVlan: false }, { vlan: 7, isGateway: true }]) {
    const a = rg.run('ADD', c1, rg.conf('1.1.0', { isGateway: false, ...extra }))
    t.not(a.status, 0, JSON.stringify(extra))
    t.match(a.json, { code: 103, msg: new RegExp(`bridge "${rg.bridge}".*no bridge VLAN filtering`) })
    t.notOk(links(rg.host).includes(rg.bridge), 'no bridge')
    t.same(rg.hostVeths(), [], 'no veth (no VLAN gateway pair either)')
    t.notOk(links(c1).includes('eth0'), 'no container interface')
    t.same(rg.leases(), [], 'no lease')
  }
  // An existing bridge cannot be switched either; it is left as it was.
  rg.host.exec('ip', ['link', 'add', rg.bridge, 'type', 'bridge'])
  const a = rg.run('ADD', c1, rg.conf('1.1.0', { isGateway: false, vlan: 100 }))
  t.match(a.json, { code: 103, msg: /no bridge VLAN filtering/ })
  t.ok(links(rg.host).includes(rg.bridge), 'the existing bridge is kept')
  t.same(rg.hostVeths(), [])
  ok(t, rg.run('DEL', c1, rg.conf('1.1.0', { isGateway: false, vlan: 100 })), 'DEL of the failed attachment succeeds')
})

t.test('CHECK verifies NAT membership (nftables) and the MAC spoof-check elements; each removed by hand is reported', { skip }, async (t) => {
  const rg = await rig(t, { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] })
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.1.0', { isDefaultGateway: true, ipMasq: true, macspoofchk: true })
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  const a2 = rg.run('ADD', c2, conf, { id: 'c2' })
  ok(t, a2, 'ADD c2')
  const check = (id: 'c1' | 'c2') => rg.run('CHECK', id === 'c1' ? c1 : c2, { ...conf, prevResult: (id === 'c1' ? a1 : a2).json }, { id })
  ok(t, check('c1'), 'CHECK c1 after ADD')
  ok(t, check('c2'), 'CHECK c2 after ADD')
  const nft = (...args: string[]) => rg.host.exec('nft', args)
  const el4 = natElements(rg.host, 'src4').find((e) => e.val === '10.77.0.2')
  const target = /jump (net_[0-9a-f]{12})/.exec(nft('list', 'map', 'inet', 'berth_bridge', 'src4'))?.[1] ?? ''
  t.match(target, /^net_[0-9a-f]{12}$/)

  // A map element.
  nft('delete', 'element', 'inet', 'berth_bridge', 'src4', '{ 10.77.0.2 }')
  t.match(check('c1').json, { code: 103, msg: 'NAT: 10.77.0.2 is not in table inet berth_bridge map src4 (container c1 eth0)' })
  ok(t, check('c2'), "c2's CHECK is unaffected")
  // Back with another owner's comment: still not c1's.
  const c2comment = natElements(rg.host, 'src4').find((e) => e.val === '10.77.0.3')?.comment ?? ''
  nft('add', 'element', 'inet', 'berth_bridge', 'src4', `{ 10.77.0.2 comment "${c2comment}" : jump ${target} }`)
  t.match(check('c1').json, { code: 103, msg: /^NAT: 10\.77\.0\.2 in table inet berth_bridge map src4 belongs to another attachment .*id:c2.*not container c1 eth0$/ })
  nft('delete', 'element', 'inet', 'berth_bridge', 'src4', '{ 10.77.0.2 }')
  nft('add', 'element', 'inet', 'berth_bridge', 'src4', `{ 10.77.0.2 comment "${el4?.comment ?? ''}" : jump ${target} }`)
  ok(t, check('c1'), 'CHECK c1 passes again with the element restored')

  nft('delete', 'element', 'inet', 'berth_bridge', 'src6', '{ fd77::2 }')
  t.match(check('c1').json, { code: 103, msg: 'NAT: fd77::2 is not in table inet berth_bridge map src6 (container c1 eth0)' })
  ok(t, rg.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1')
  const again = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, again, 'ADD c1 again')
  const check1 = () => rg.run('CHECK', c1, { ...conf, prevResult: again.json }, { id: 'c1' })
  ok(t, check1(), 'CHECK c1 after a fresh ADD')

  // The fixed rules.
  nft('flush', 'chain', 'inet', 'berth_bridge', 'postrouting')
  t.match(check1().json, { code: 103, msg: 'NAT: chain postrouting of table inet berth_bridge has no rule "ip saddr vmap @src4" (container c1 eth0)' })
  t.match(check('c2').json, { code: 103, msg: /container c2 eth0/ }, "c2's NAT is broken too")
  nft('add', 'rule', 'inet', 'berth_bridge', 'postrouting', 'ip', 'saddr', 'vmap', '@src4')
  t.match(check1().json, { code: 103, msg: /has no rule "ip6 saddr vmap @src6"/ })
  nft('add', 'rule', 'inet', 'berth_bridge', 'postrouting', 'ip6', 'saddr', 'vmap', '@src6')
  ok(t, check1(), 'CHECK c1 passes with the fixed rules back')
  nft('flush', 'chain', 'inet', 'berth_bridge', target)
  t.match(check1().json, { code: 103, msg: `NAT: chain ${target} of table inet berth_bridge has no masquerade rule (container c1 eth0)` })
  ok(t, rg.run('ADD', c2, conf, { id: 'c3', ifName: 'eth1' }), 'another ADD rewrites the fixed chains')
  ok(t, check1(), 'CHECK c1 passes again')

  // The spoof-check elements (checked before NAT).
  const veth1 = (again.json?.['interfaces'] as { name: string }[])[1]?.name ?? ''
  const mac1 = (again.json?.['interfaces'] as { mac: string }[])[2]?.mac ?? ''
  nft('delete', 'element', 'bridge', 'berth_bridge_spoof', 'allowed', `{ ${veth1} . ${mac1} }`)
  t.match(check1().json, { code: 103, msg: `MAC spoof check: ${veth1} . ${mac1} is not in table bridge berth_bridge_spoof set allowed (container c1 eth0)` })
  ok(t, check('c2'), "c2's CHECK is unaffected")
  nft('delete', 'element', 'bridge', 'berth_bridge_spoof', 'ports', `{ ${veth1} }`)
  t.match(check1().json, { code: 103, msg: `MAC spoof check: port ${veth1} is not in table bridge berth_bridge_spoof set ports (container c1 eth0)` })
  nft('flush', 'chain', 'bridge', 'berth_bridge_spoof', 'prerouting')
  t.match(check1().json, { code: 103, msg: /^MAC spoof check: chain prerouting of table bridge berth_bridge_spoof has no rule/ })
  nft('delete', 'table', 'bridge', 'berth_bridge_spoof')
  t.match(check1().json, { code: 103, msg: 'MAC spoof check: table bridge berth_bridge_spoof does not exist (container c1 eth0)' })
  nft('delete', 'table', 'inet', 'berth_bridge')
  t.match(rg.run('CHECK', c1, { ...conf, macspoofchk: false, prevResult: again.json }, { id: 'c1' }).json, {
    code: 103,
    msg: 'NAT: table inet berth_bridge does not exist (container c1 eth0)',
  })
  // CHECK of a configuration without the features ignores them.
  ok(t, rg.run('CHECK', c1, { ...rg.conf('1.1.0', { isDefaultGateway: true }), prevResult: again.json }, { id: 'c1' }), 'CHECK without ipMasq/macspoofchk')
})

t.test('CHECK verifies NAT membership (iptables backend): the owner-commented rules and the POSTROUTING jump', { skip: skip || hasIptables }, async (t) => {
  const rg = await rig(t, { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] })
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = rg.conf('1.1.0', { isDefaultGateway: true, ipMasq: true, ipMasqBackend: 'iptables' })
  const a1 = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  const a2 = rg.run('ADD', c2, conf, { id: 'c2' })
  ok(t, a2, 'ADD c2')
  const check = (id: 'c1' | 'c2') => rg.run('CHECK', id === 'c1' ? c1 : c2, { ...conf, prevResult: (id === 'c1' ? a1 : a2).json }, { id })
  ok(t, check('c1'), 'CHECK c1 after ADD')
  ok(t, check('c2'), 'CHECK c2 after ADD')
  const tool = (f: 4 | 6) => (f === 4 ? 'iptables' : 'ip6tables')
  const chain = natRules(rg.host, 4).chains.find((c) => c.startsWith('BERTH-BR-')) ?? ''
  t.match(chain, /^BERTH-BR-[0-9a-f]{12}$/)
  /** Deletes the rule of `chain` matching `re` by its position (iptables -D CHAIN N), returning the comment. */
  const delRule = (f: 4 | 6, ch: string, re: RegExp): string | undefined => {
    const rules = natRules(rg.host, f).rules.filter((r) => r.chain === ch)
    const i = rules.findIndex((r) => re.test(r.line))
    t.ok(i >= 0, `rule ${re} found in ${ch}`)
    rg.host.exec(tool(f), ['-w', '-t', 'nat', '-D', ch, String(i + 1)])
    return rules[i]?.comment
  }

  const comment = delRule(4, chain, /-s 10\.77\.0\.2\/32 .*MASQUERADE/) ?? ''
  t.match(comment, /^[0-9a-f]{16} net:brtest id:c1 if:eth0$/)
  t.match(check('c1').json, { code: 103, msg: `NAT: iptables nat chain ${chain} has no rule "-s 10.77.0.2/32 ! -d 224.0.0.0/4 -j MASQUERADE" with the owner comment of container c1 eth0` })
  ok(t, check('c2'), "c2's CHECK is unaffected")
  // Back without the owner comment: still missing.
  rg.host.exec('iptables', ['-w', '-t', 'nat', '-A', chain, '-s', '10.77.0.2/32', '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'])
  t.match(check('c1').json, { code: 103, msg: /has no rule "-s 10\.77\.0\.2\/32 ! -d 224\.0\.0\.0\/4 -j MASQUERADE" with the owner comment/ })
  rg.host.exec('iptables', ['-w', '-t', 'nat', '-A', chain, '-s', '10.77.0.2/32', '!', '-d', '224.0.0.0/4', '-m', 'comment', '--comment', comment, '-j', 'MASQUERADE'])
  ok(t, check('c1'), 'CHECK c1 passes with the rule restored')

  delRule(6, chain, /-s fd77::2\/128 -d fd77::\/64 .*RETURN/)
  t.match(check('c1').json, { code: 103, msg: `NAT: ip6tables nat chain ${chain} has no rule "-s fd77::2/128 -d fd77::/64 -j RETURN" with the owner comment of container c1 eth0` })
  ok(t, rg.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1')
  const again = rg.run('ADD', c1, conf, { id: 'c1' })
  ok(t, again, 'ADD c1 again')
  const check1 = () => rg.run('CHECK', c1, { ...conf, prevResult: again.json }, { id: 'c1' })
  ok(t, check1(), 'CHECK c1 after a fresh ADD')

  delRule(6, 'POSTROUTING', new RegExp(`-j ${chain}$`))
  t.match(check1().json, { code: 103, msg: `NAT: ip6tables nat chain POSTROUTING has no jump to ${chain} (network brtest; container c1 eth0)` })
  t.match(check('c2').json, { code: 103, msg: /ip6tables nat chain POSTROUTING has no jump .*container c2 eth0/ })
})
