// bin/macvlan against the kernel. Each test makes a throw-away "host" namespace, where the plugin runs
// (nsenter), and a "LAN" namespace: the master is a veth end in the host whose peer (lan0, 10.78.0.1) is
// in the LAN, so the LAN is the outside of the master's segment (this kernel has no dummy link kind, and a
// veth is a master as good as a NIC). Containers are further namespaces. IPAM is berth's own host-local
// from bin/ with a per-test dataDir; nothing touches the real host.
import t, { type Test } from 'tap'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { hostRunner, type HostRunner, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsLinkKind } from '../../helpers/privileges.js'
import { createTestNetns, wireVeth, type TestNetns } from '../../helpers/netns.js'
import { containerId, uniqueName } from '../../helpers/names.js'
import { pingOk, tcpPayloadOk } from '../../helpers/overlay-traffic.js'
import { BIN_DIR } from '../../helpers/paths.js'

const skip = needsLinkKind('macvlan') || needsBuiltBin('macvlan', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)
const NET = 'mvtest'
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/

interface Rig {
  host: TestNetns
  lan: TestNetns
  /** the master: a veth end in the host, its peer lan0 (10.78.0.1/24) in the LAN */
  master: string
  dataDir: string
  conf(extra?: Record<string, unknown>, v?: string): Record<string, unknown>
  run: HostRunner
  /** addresses host-local still holds for the network */
  leases(): string[]
}

async function rig(t: Test): Promise<Rig> {
  const host = await createTestNetns(t)
  const lan = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const master = uniqueName('mvm')
  wireVeth({ ns: host, name: master }, { ns: lan, name: 'lan0', addr: '10.78.0.1/24' })
  const dataDir = t.testdir()
  return {
    host,
    lan,
    master,
    dataDir,
    conf: (extra = {}, v = '1.1.0') => ({
      cniVersion: v,
      name: NET,
      type: 'macvlan',
      master,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.0.0/24', gateway: '10.78.0.1', rangeStart: '10.78.0.10' }]], routes: [{ dst: '0.0.0.0/0' }] },
      ...extra,
    }),
    run: hostRunner('macvlan', host.path),
    leases: () => {
      const dir = join(dataDir, NET)
      return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : []
    },
  }
}

interface IpLink {
  ifname: string
  address: string
  mtu: number
  flags: string[]
  /** the parent's ifindex when it is in another namespace ... */
  link_index?: number
  /** ... and its name when it is in this one */
  link?: string
  linkinfo?: { info_kind?: string; info_data?: { mode?: string; bcqueuelen?: number } }
  addr_info?: { local: string; prefixlen: number; scope: string }[]
}
/** `ip -d addr show NAME` in ns, or undefined when there is no such link. */
function link(ns: TestNetns, name: string): IpLink | undefined {
  try {
    return (ns.ipJson(['-d', 'addr', 'show', 'dev', name]) as IpLink[])[0]
  } catch {
    return undefined
  }
}
const globalAddrs = (l: IpLink | undefined) => (l?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`)
const linkNames = (ns: TestNetns) => (ns.ipJson(['link', 'show']) as { ifname: string }[]).map((l) => l.ifname).sort()

const ok = (t: Test, r: PluginRun, what: string) => t.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`)
function expectError(t: Test, r: PluginRun, code: number, msg: RegExp, what: string): void {
  t.not(r.status, 0, `${what}: fails`)
  t.equal(r.json?.['code'], code, `${what}: code ${code} (${r.stdout.trim()})`)
  t.match(String(r.json?.['msg']), msg, `${what}: says what is wrong`)
}

t.test('bridge mode: two containers and the LAN reach each other; CHECK; DEL, DEL again', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = r.conf()
  const a1 = r.run('ADD', c1, conf, { id: 'c1' })
  ok(t, a1, 'ADD c1')
  const a2 = r.run('ADD', c2, conf, { id: 'c2' })
  ok(t, a2, 'ADD c2')
  const res = a1.json as { interfaces: { name: string; mac: string; sandbox: string }[]; ips: unknown[]; routes: unknown[] }
  t.same(res, {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: res.interfaces[0]?.mac, sandbox: c1.path }],
    ips: [{ interface: 0, address: '10.78.0.10/24', gateway: '10.78.0.1' }],
    routes: [{ dst: '0.0.0.0/0' }],
  }, 'the result: one interface in the sandbox, its address, the route')
  t.match(res.interfaces[0]?.mac, MAC_RE)

  const eth0 = link(c1, 'eth0')
  t.equal(eth0?.linkinfo?.info_kind, 'macvlan', 'a macvlan in the container')
  t.equal(eth0?.linkinfo?.info_data?.mode, 'bridge', 'in bridge mode (the default)')
  t.equal(eth0?.address, res.interfaces[0]?.mac, 'the MAC reported')
  t.ok(eth0?.flags.includes('UP'), 'up')
  t.same(globalAddrs(eth0), ['10.78.0.10/24'])
  t.equal((r.host.ipJson(['link', 'show', r.master]) as { ifindex: number }[])[0]?.ifindex, eth0?.link_index, 'on the master')
  t.match(c1.exec('ip', ['route', 'show', 'default']), /default via 10\.78\.0\.1 dev eth0/, 'default route through the gateway')
  t.same(linkNames(r.host), ['lo', r.master].sort(), 'nothing left in the host namespace')
  t.equal(c1.exec('cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify']).trim(), '1', 'arp_notify on, as the reference')

  t.ok(pingOk(c1, '10.78.0.11'), 'c1 pings c2')
  t.ok(pingOk(c2, '10.78.0.10'), 'c2 pings c1')
  t.ok(await tcpPayloadOk(c1, c2, '10.78.0.11', 7801), 'TCP c1 -> c2')
  t.ok(pingOk(r.lan, '10.78.0.10') && pingOk(r.lan, '10.78.0.11'), 'the LAN reaches both')
  t.ok(await tcpPayloadOk(r.lan, c2, '10.78.0.11', 7802), 'TCP LAN -> c2')
  t.ok(await tcpPayloadOk(c1, r.lan, '10.78.0.1', 7803), 'TCP c1 -> LAN')

  ok(t, r.run('CHECK', c1, { ...conf, prevResult: a1.json }, { id: 'c1' }), 'CHECK c1')
  ok(t, r.run('CHECK', c2, { ...conf, prevResult: a2.json }, { id: 'c2' }), 'CHECK c2')

  const d1 = r.run('DEL', c1, conf, { id: 'c1' })
  ok(t, d1, 'DEL c1')
  t.equal(d1.stdout, '', 'DEL prints nothing')
  t.same(linkNames(c1), ['lo'], 'the macvlan is gone')
  t.same(r.leases(), ['10.78.0.11'], "c1's lease released, c2's kept")
  ok(t, r.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1 again')
  t.ok(pingOk(r.lan, '10.78.0.11'), 'c2 still reachable')
  ok(t, r.run('DEL', c2, conf, { id: 'c2' }), 'DEL c2')
  t.same(r.leases(), [], 'every lease released')
})

t.test('private mode: the containers cannot reach each other, the LAN reaches both', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = r.conf({ mode: 'private' })
  ok(t, r.run('ADD', c1, conf, { id: 'c1' }), 'ADD c1')
  ok(t, r.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  t.equal(link(c1, 'eth0')?.linkinfo?.info_data?.mode, 'private')
  t.ok(pingOk(r.lan, '10.78.0.10') && pingOk(r.lan, '10.78.0.11'), 'the LAN reaches both')
  t.notOk(pingOk(c1, '10.78.0.11'), 'c1 does not reach c2')
  t.notOk(pingOk(c2, '10.78.0.10'), 'c2 does not reach c1')
  ok(t, r.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1')
  ok(t, r.run('DEL', c2, conf, { id: 'c2' }), 'DEL c2')
})

for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
  t.test(`cniVersion ${v}: the result in that version's shape; CHECK where the version has it; DEL`, { skip }, async (t) => {
    const r = await rig(t)
    const c1 = await createTestNetns(t)
    const conf = r.conf({}, v)
    const a = r.run('ADD', c1, conf)
    ok(t, a, 'ADD')
    const legacy = v.startsWith('0.')
    t.match(a.json, {
      cniVersion: v,
      interfaces: [{ name: 'eth0', mac: MAC_RE, sandbox: c1.path }],
      ips: [{ address: '10.78.0.10/24', gateway: '10.78.0.1', interface: 0, ...(legacy ? { version: '4' } : {}) }],
      routes: [{ dst: '0.0.0.0/0' }],
    })
    if (!legacy) t.notOk((a.json?.['ips'] as Record<string, unknown>[])[0]?.['version'], 'no ips[].version in 1.x')
    if (legacy) t.same(a.json?.['dns'], {}, '0.x always prints dns')
    t.ok(pingOk(r.lan, '10.78.0.10'), 'reachable')
    if (v === '0.4.0' || v === '1.0.0') ok(t, r.run('CHECK', c1, { ...conf, prevResult: a.json }), 'CHECK')
    ok(t, r.run('DEL', c1, { ...conf, prevResult: a.json }), 'DEL')
    t.same(linkNames(c1), ['lo'])
    t.same(r.leases(), [])
  })
}

t.test('DEL when the namespace is gone, or CNI_NETNS is empty: succeeds and releases the lease', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = r.conf()
  ok(t, r.run('ADD', c1, conf, { id: 'c1' }), 'ADD c1')
  ok(t, r.run('ADD', c2, conf, { id: 'c2' }), 'ADD c2')
  const gone = c1.path
  c1.destroy()
  t.notOk(existsSync(gone), 'the namespace is gone')
  ok(t, r.run('DEL', gone, conf, { id: 'c1' }), 'DEL with a missing namespace')
  t.same(r.leases(), ['10.78.0.11'], "c1's lease released")
  ok(t, r.run('DEL', '', conf, { id: 'c2' }), 'DEL with CNI_NETNS empty')
  t.same(r.leases(), [], "c2's lease released")
  t.same(linkNames(r.host), ['lo', r.master].sort(), 'the master stays, nothing else in the host')
})

t.test('an ADD that fails after the link exists removes it and releases the lease', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  // IPAM refuses: a range of one address, already taken.
  const one = (extra: Record<string, unknown> = {}) =>
    r.conf({ ipam: { type: 'host-local', dataDir: r.dataDir, ranges: [[{ subnet: '10.78.0.0/24', rangeStart: '10.78.0.10', rangeEnd: '10.78.0.10' }]] }, ...extra })
  ok(t, r.run('ADD', c1, one(), { id: 'c1' }), 'ADD c1 takes the only address')
  const refused = r.run('ADD', c2, one(), { id: 'c2' })
  t.not(refused.status, 0, 'ADD c2: IPAM refuses')
  t.match(String(refused.json?.['msg']), /10\.78\.0\.10|no IP addresses available|exhausted/i)
  t.same(linkNames(c2), ['lo'], 'no macvlan left in c2')
  t.same(r.leases(), ['10.78.0.10'], 'no reservation for c2')

  // The kernel refuses a route of the lease (a gateway on no network of the container's).
  const c3 = await createTestNetns(t)
  const badRoute = r.conf({ ipam: { type: 'host-local', dataDir: r.dataDir, ranges: [[{ subnet: '10.78.0.0/24', rangeStart: '10.78.0.20' }]], routes: [{ dst: '10.99.0.0/16', gw: '192.0.2.99' }] } })
  const failed = r.run('ADD', c3, badRoute, { id: 'c3' })
  expectError(t, failed, 103, /10\.99\.0\.0\/16 via 192\.0\.2\.99.*ENETUNREACH/, 'ADD with an unreachable route')
  t.same(linkNames(c3), ['lo'], 'no macvlan left in c3 (the reference leaves it)')
  t.same(r.leases(), ['10.78.0.10'], "c3's lease released")
  ok(t, r.run('DEL', c3, badRoute, { id: 'c3' }), "the runtime's DEL after the failed ADD succeeds")
  t.same(linkNames(r.host), ['lo', r.master].sort(), 'nothing in the host')
})

t.test('bad input: error 7 naming the key, nothing created', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const cases: [Record<string, unknown>, RegExp, string][] = [
    [{ master: 'btnosuchdev0' }, /master: interface "btnosuchdev0" not found in the host namespace/, 'a master that does not exist'],
    [{ mode: 'bogus' }, /mode: must be one of bridge, private, vepa, passthru/, 'a mode the reference does not know'],
    [{ Mode: 'bogus' }, /Mode: must be one of/, 'the key as the runtime spelled it'],
    [{ mtu: 1600 }, new RegExp(`mtu: 1600 is larger than the MTU of master ${r.master} \\(1500\\)`), 'an MTU above the master'],
    [{ mtu: 'big' }, /mtu: expected number/, 'an MTU that is not a number'],
    [{ mac: '01:00:5e:00:00:01' }, /mac: expected a unicast MAC/, 'a multicast MAC'],
    [{ runtimeConfig: { mac: 'nope' } }, /runtimeConfig\.mac: expected a unicast MAC/, 'a bad mac capability'],
    [{ linkInContainer: 1 }, /linkInContainer: expected boolean/, 'linkInContainer not a boolean'],
    [{ bcqueuelen: -5 }, /bcqueuelen/, 'a negative bcqueuelen'],
    [{ master: 'a/b' }, /master: must be an interface name/, 'a master that cannot be a name'],
  ]
  for (const [extra, msg, what] of cases) expectError(t, r.run('ADD', c1, r.conf(extra)), 7, msg, what)
  expectError(t, r.run('ADD', c1, r.conf(), { args: 'MAC=zz' }), 4, /CNI_ARGS: MAC "zz"/, 'a bad MAC in CNI_ARGS')
  // With no master and no default route, there is nothing to take.
  expectError(t, r.run('ADD', c1, r.conf({ master: undefined })), 7, /master: not set, and the host namespace has no default route/, 'no master, no default route')
  t.same(linkNames(c1), ['lo'], 'nothing in the container')
  t.same(linkNames(r.host), ['lo', r.master].sort(), 'nothing in the host')
  t.same(r.leases(), [], 'nothing reserved')
  const check = r.run('CHECK', c1, { ...r.conf({ master: 'btnosuchdev0' }), prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: c1.path }] } })
  expectError(t, check, 7, /master: interface "btnosuchdev0" not found/, 'CHECK with a master that does not exist')
})

t.test('the default master is the interface of the default route', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  r.host.exec('ip', ['route', 'add', 'default', 'dev', r.master])
  const conf = r.conf({ master: undefined })
  ok(t, r.run('ADD', c1, conf), 'ADD without master')
  t.equal((r.host.ipJson(['link', 'show', r.master]) as { ifindex: number }[])[0]?.ifindex, link(c1, 'eth0')?.link_index, `on ${r.master}`)
  t.ok(pingOk(r.lan, '10.78.0.10'), 'reachable')
  ok(t, r.run('DEL', c1, conf), 'DEL')
})

t.test('CHECK notices drift: address, MAC, mode, master, the link itself', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const conf = r.conf()
  const a = r.run('ADD', c1, conf)
  ok(t, a, 'ADD')
  const check = (c: Record<string, unknown> = conf) => r.run('CHECK', c1, { ...c, prevResult: a.json })
  ok(t, check(), 'CHECK as made')
  const mac = link(c1, 'eth0')?.address ?? ''

  c1.exec('ip', ['route', 'del', 'default'])
  expectError(t, check(), 103, /route 0\.0\.0\.0\/0 from prevResult not found/, 'default route removed')
  c1.exec('ip', ['route', 'add', 'default', 'via', '10.78.0.1'])
  ok(t, check(), 'route back')

  c1.exec('ip', ['addr', 'del', '10.78.0.10/24', 'dev', 'eth0'])
  expectError(t, check(), 103, /eth0 lacks address 10\.78\.0\.10\/24/, 'address removed')
  c1.exec('ip', ['addr', 'add', '10.78.0.10/24', 'dev', 'eth0'])
  c1.exec('ip', ['route', 'replace', 'default', 'via', '10.78.0.1'])

  c1.exec('ip', ['link', 'set', 'eth0', 'address', '02:00:00:00:77:77'])
  expectError(t, check(), 103, /eth0 has MAC 02:00:00:00:77:77, prevResult says/, 'MAC changed')
  c1.exec('ip', ['link', 'set', 'eth0', 'address', mac])

  c1.exec('ip', ['link', 'set', 'eth0', 'type', 'macvlan', 'mode', 'vepa'])
  expectError(t, check(), 103, /eth0 is in vepa mode, configured bridge/, 'mode changed')
  c1.exec('ip', ['link', 'set', 'eth0', 'type', 'macvlan', 'mode', 'bridge'])
  ok(t, check(), 'all back: CHECK passes again')

  // Another master of the host, configured now.
  const other = uniqueName('mvo')
  r.host.exec('ip', ['link', 'add', other, 'type', 'veth', 'peer', 'name', uniqueName('mvp')])
  expectError(t, check(r.conf({ master: other })), 103, new RegExp(`eth0 is not on master ${other}`), 'master differs')

  expectError(t, r.run('CHECK', c1, conf), 7, /prevResult: required for CHECK/, 'no prevResult')
  c1.exec('ip', ['link', 'del', 'eth0'])
  expectError(t, check(), 103, /interface eth0 not found/, 'the link is gone')
  ok(t, r.run('DEL', c1, conf), 'DEL')
})

t.test('the mac capability and MAC in CNI_ARGS: the capability wins, the result reports it', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const c3 = await createTestNetns(t)
  const a1 = r.run('ADD', c1, r.conf(), { id: 'c1', args: 'IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:00:00:00:00:a1' })
  ok(t, a1, 'ADD with MAC= in CNI_ARGS')
  t.equal(link(c1, 'eth0')?.address, '02:00:00:00:00:a1')
  t.match(a1.json, { interfaces: [{ mac: '02:00:00:00:00:a1' }] })
  const a2 = r.run('ADD', c2, r.conf({ runtimeConfig: { mac: '02:00:00:00:00:A2' } }), { id: 'c2', args: 'IgnoreUnknown=1;MAC=02:00:00:00:00:99' })
  ok(t, a2, 'ADD with the capability and CNI_ARGS')
  t.equal(link(c2, 'eth0')?.address, '02:00:00:00:00:a2', 'the capability wins')
  t.match(a2.json, { interfaces: [{ mac: '02:00:00:00:00:a2' }] })
  ok(t, r.run('ADD', c3, r.conf({ mac: '02:00:00:00:00:a3' }), { id: 'c3' }), 'ADD with the mac key')
  t.equal(link(c3, 'eth0')?.address, '02:00:00:00:00:a3')
  t.ok(pingOk(c1, '10.78.0.11'), 'c1 reaches c2 (the chosen MACs answer ARP)')
  t.ok(pingOk(r.lan, '10.78.0.10'), 'the LAN reaches c1')
  t.match(r.lan.exec('ip', ['neigh', 'show', '10.78.0.10']).trim(), /lladdr 02:00:00:00:00:a1/, "the LAN knows c1 by its MAC")
  for (const [c, id] of [[c1, 'c1'], [c2, 'c2'], [c3, 'c3']] as const) ok(t, r.run('DEL', c, r.conf(), { id }), `DEL ${id}`)
})

t.test('layer 2 only (no IPAM, or "ipam": {}): the interface comes up without addresses', { skip }, async (t) => {
  const r = await rig(t)
  for (const [i, ipam] of [undefined, {}].entries()) {
    const c1 = await createTestNetns(t)
    const conf = r.conf({ ipam, mtu: 1400, bcqueuelen: 2000, mode: 'vepa' })
    const a = r.run('ADD', c1, conf)
    ok(t, a, `ADD with ipam ${JSON.stringify(ipam)}`)
    t.same(a.json, { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mac: (a.json?.['interfaces'] as { mac: string }[])[0]?.mac, sandbox: c1.path }] }, 'no ips, no routes')
    const eth0 = link(c1, 'eth0')
    t.ok(eth0?.flags.includes('UP'), 'up')
    t.same(globalAddrs(eth0), [], 'no addresses')
    t.equal(eth0?.mtu, 1400, 'mtu')
    t.equal(eth0?.linkinfo?.info_data?.bcqueuelen, 2000, 'bcqueuelen')
    t.equal(eth0?.linkinfo?.info_data?.mode, 'vepa', 'mode')
    // The container addresses it itself, and the segment works.
    // (another address each round: the LAN's neighbour entry for the last one names the last MAC)
    c1.exec('ip', ['addr', 'add', `10.78.0.${50 + i}/24`, 'dev', 'eth0'])
    t.ok(pingOk(r.lan, `10.78.0.${50 + i}`), 'the LAN reaches the address the container set')
    ok(t, r.run('CHECK', c1, { ...conf, prevResult: a.json }), 'CHECK')
    ok(t, r.run('DEL', c1, conf), 'DEL')
    t.same(linkNames(c1), ['lo'])
  }
  t.same(r.leases(), [], 'no IPAM involved')
})

t.test('linkInContainer: the master is in the container, and so is the macvlan', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  // The container's own uplink to the LAN: up0 in c1, its peer in the LAN.
  const peer = uniqueName('mvu')
  wireVeth({ ns: c1, name: 'up0' }, { ns: r.lan, name: peer, addr: '10.79.0.1/24' })
  const conf = r.conf({
    master: 'up0',
    linkInContainer: true,
    ipam: { type: 'host-local', dataDir: r.dataDir, ranges: [[{ subnet: '10.79.0.0/24', rangeStart: '10.79.0.10' }]] },
  })
  const hostLinks = linkNames(r.host)
  const a = r.run('ADD', c1, conf, { ifName: 'net1' })
  ok(t, a, 'ADD')
  const net1 = link(c1, 'net1')
  t.equal(net1?.linkinfo?.info_kind, 'macvlan')
  t.equal(net1?.link, 'up0', 'on up0, in the container')
  t.same(linkNames(r.host), hostLinks, 'nothing in the host')
  t.ok(pingOk(r.lan, '10.79.0.10'), 'the LAN reaches it through up0')
  ok(t, r.run('CHECK', c1, { ...conf, prevResult: a.json }, { ifName: 'net1' }), 'CHECK')
  expectError(t, r.run('ADD', c1, r.conf({ master: r.master, linkInContainer: true }), { ifName: 'net2' }), 7, /master: interface ".*" not found in the container's namespace/, "linkInContainer looks in the container's namespace")
  ok(t, r.run('DEL', c1, conf, { ifName: 'net1' }), 'DEL')
  t.same(linkNames(c1), ['lo', 'up0'], 'the macvlan is gone, the master stays')
})

t.test('passthru: one macvlan per master; the second ADD fails cleanly', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const conf = r.conf({ mode: 'passthru' })
  ok(t, r.run('ADD', c1, conf, { id: 'c1' }), 'ADD c1')
  t.equal(link(c1, 'eth0')?.linkinfo?.info_data?.mode, 'passthru')
  t.ok(pingOk(r.lan, '10.78.0.10'), 'reachable')
  expectError(t, r.run('ADD', c2, conf, { id: 'c2' }), 103, /passthru allows one macvlan per master/, 'a second passthru macvlan')
  t.same(linkNames(c2), ['lo'])
  t.same(r.leases(), ['10.78.0.10'], 'the failed ADD reserved nothing')
  ok(t, r.run('DEL', c1, conf, { id: 'c1' }), 'DEL c1')
})

t.test('an interface of that name already in the container: 101, and DEL leaves it alone', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  c1.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'])
  expectError(t, r.run('ADD', c1, r.conf()), 101, /"eth0" already exists/, 'ADD over an existing eth0')
  ok(t, r.run('DEL', c1, r.conf()), "the runtime's DEL")
  t.ok(link(c1, 'eth0'), "someone else's eth0 (a veth) is left alone")
  t.same(r.leases(), [])
})

t.test('GC releases the leases of attachments that are no longer valid; STATUS', { skip }, async (t) => {
  const r = await rig(t)
  const c1 = await createTestNetns(t)
  const c2 = await createTestNetns(t)
  const id1 = containerId()
  const id2 = containerId()
  const conf = r.conf()
  ok(t, r.run('ADD', c1, conf, { id: id1 }), 'ADD c1')
  ok(t, r.run('ADD', c2, conf, { id: id2 }), 'ADD c2')
  ok(t, r.run('GC', '', conf), 'GC without a list collects nothing')
  t.same(r.leases(), ['10.78.0.10', '10.78.0.11'])
  ok(t, r.run('GC', '', { ...conf, 'cni.dev/valid-attachments': [{ containerID: id2, ifname: 'eth0' }] }), 'GC keeping c2')
  t.same(r.leases(), ['10.78.0.11'], "c1's lease collected, c2's kept")
  expectError(t, r.run('GC', '', { ...conf, 'cni.dev/valid-attachments': 'all' }), 7, /valid-attachments/, 'a malformed list')

  ok(t, r.run('STATUS', '', conf), 'STATUS: master there, IPAM ready')
  ok(t, r.run('STATUS', '', r.conf({ ipam: undefined })), 'STATUS without IPAM')
  expectError(t, r.run('STATUS', '', r.conf({ master: 'btnosuchdev0' })), 50, /macvlan not available: master: interface "btnosuchdev0" not found/, 'STATUS with a missing master')
  expectError(t, r.run('STATUS', '', r.conf({ mode: 'bogus' })), 7, /mode/, 'STATUS with a bad key')
  ok(t, r.run('STATUS', '', r.conf({ master: 'btnosuchdev0', linkInContainer: true })), 'STATUS cannot see a master in a container: ready')
  ok(t, r.run('DEL', c2, conf, { id: id2 }), 'DEL c2')
})
