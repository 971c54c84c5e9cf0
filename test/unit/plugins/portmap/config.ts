import t from 'tap'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { containerAddresses, parseMappings, parsePortmapConfig, refuseUnsupported } from '../../../../plugins/portmap/config.js'
import { coalesce, describeEntry, elementEntries, offsetWindow, overlaps, planEntries, portmapOwner, type Entry } from '../../../../plugins/portmap/plan.js'
import { parseProcNet, listenerCovers } from '../../../../plugins/portmap/listeners.js'
import { conntrackArgs } from '../../../../plugins/portmap/conntrack.js'
import { addFlushes } from '../../../../plugins/portmap/add.js'
import { addIptBatch, dnatArgs, masqArgs, savedEntries } from '../../../../plugins/portmap/ipt.js'
import { parseIptablesSave } from '../../../../pkg/firewall/iptables-format.js'

const conf = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'portmap', ...extra }))
const code = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof CniError ? e.code : -1
  }
  return undefined
}

t.test('defaults and keys of the reference', async (t) => {
  const c = parsePortmapConfig(conf())
  t.match(c, { snat: true, markMasqBit: 13, backend: 'nftables', conditionsV4: [], conditionsV6: [], mappings: [] })
  t.equal(parsePortmapConfig(conf({ snat: false })).snat, false)
  t.equal(code(() => parsePortmapConfig(conf({ snat: 'yes' }))), 7)
  t.equal(code(() => parsePortmapConfig(conf({ markMasqBit: 32 }))), 7)
  t.equal(code(() => parsePortmapConfig(conf({ backend: 'pf' }))), 7)
  t.equal(code(() => parsePortmapConfig(conf({ markMasqBit: 1, externalSetMarkChain: 'X' }))), 7, 'mutually exclusive')
  t.equal(code(() => refuseUnsupported(parsePortmapConfig(conf({ backend: 'iptables' })))), undefined)
  t.equal(code(() => refuseUnsupported(parsePortmapConfig(conf({ conditionsV4: ['-s', '1.2.3.4'] })))), 2, 'conditions need iptables')
  t.equal(code(() => refuseUnsupported(parsePortmapConfig(conf({ backend: 'iptables', conditionsV4: ['-s', '1.2.3.4'] })))), undefined)
  t.equal(code(() => refuseUnsupported(parsePortmapConfig(conf({ externalSetMarkChain: 'X' })))), 2)
  t.equal(code(() => refuseUnsupported(parsePortmapConfig(conf()))), undefined)
})

t.test('the portMappings capability', async (t) => {
  t.same(parseMappings([{ hostPort: 80, containerPort: 8080 }]), [{ hostPort: 80, containerPort: 8080, protocol: 'tcp', hostIP: undefined }])
  t.same(parseMappings([{ hostPort: 80, containerPort: 80, protocol: 'UDP', hostIP: '::FFFF:1.2.3.4' }])[0], { hostPort: 80, containerPort: 80, protocol: 'udp', hostIP: '1.2.3.4' })
  t.same(parseMappings([{ hostPort: 80, containerPort: 80, hostIP: '' }])[0]?.hostIP, undefined, 'empty hostIP: every address')
  t.equal(parseMappings([{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 80, protocol: 'tcp' }]).length, 1, 'duplicates dropped')
  for (const bad of [{ hostPort: 0, containerPort: 1 }, { hostPort: 1, containerPort: 65536 }, { hostPort: 1, containerPort: 1, protocol: 'icmp' }, { hostPort: 1, containerPort: 1, hostIP: 'x' }, { hostPort: 1.5, containerPort: 1 }]) {
    t.equal(code(() => parseMappings([bad])), 7, JSON.stringify(bad))
  }
  t.equal(code(() => conf({ runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 1 }] } })), 7, 'the envelope refuses > 65535')
  const c = parsePortmapConfig(conf({ runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'sctp' }] } }))
  t.same(c.mappings, [{ hostPort: 8080, containerPort: 80, protocol: 'sctp', hostIP: undefined }])
})

t.test("the capability as containerd sends it (go-cni's structs: Go's field names)", async (t) => {
  const mappings = [{ HostPort: 18080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }, { HostPort: 8053, ContainerPort: 53, Protocol: 'UDP', HostIP: '10.0.0.1' }]
  const c = parsePortmapConfig(conf({ capabilities: { portMappings: true }, runtimeConfig: { portMappings: mappings } }))
  t.same(c.mappings, [
    { hostPort: 18080, containerPort: 80, protocol: 'tcp', hostIP: undefined },
    { hostPort: 8053, containerPort: 53, protocol: 'udp', hostIP: '10.0.0.1' },
  ])
  t.match(parsePortmapConfig(conf({ SNAT: false, MarkMasqBit: 5, Backend: 'iptables' })), { snat: false, markMasqBit: 5, backend: 'iptables' }, 'the plugin keys too')
  t.equal(parsePortmapConfig(conf({ ['mar\u212aMasqBit']: 7 })).markMasqBit, 7, 'Kelvin sign folds to k (reference: range error for 40)')
  const msg = (m: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    try {
      parsePortmapConfig(conf({ runtimeConfig: { portMappings: [m] }, ...extra }))
    } catch (e) {
      return e instanceof CniError ? `${e.code} ${e.message}` : String(e)
    }
    return 'no error'
  }
  t.equal(msg({ HostPort: 0, ContainerPort: 80 }), '7 invalid runtimeConfig.portMappings[0].HostPort: must be between 1 and 65535, received 0')
  t.equal(msg({ HostPort: 80, ContainerPort: 80, Protocol: 'icmp' }), '7 invalid runtimeConfig.portMappings[0].Protocol: must be one of tcp, udp, sctp, received "icmp"')
  t.equal(msg({ hostPort: 80, containerPort: 80, HOSTIP: 'x' }), '7 invalid runtimeConfig.portMappings[0].HOSTIP: expected an IPv4 or IPv6 address, received "x"')
  t.equal(msg({ ContainerPort: 80, Protocol: 'tcp' }), '7 invalid network configuration: runtimeConfig.portMappings[0].HostPort: missing (expected number)')
  t.equal(msg({ HostPort: '80', ContainerPort: 80 }), '7 invalid network configuration: runtimeConfig.portMappings[0].HostPort: expected number, received string')
  const wrapped = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'portmap', RUNTIMECONFIG: { PortMappings: [{ HostPort: 0, ContainerPort: 1 }] } }))
  t.throws(() => parsePortmapConfig(wrapped), { code: 7, message: 'invalid RUNTIMECONFIG.PortMappings[0].HostPort: must be between 1 and 65535, received 0' })
})

t.test('container addresses: the first of each family on a sandboxed interface', async (t) => {
  const a = containerAddresses({
    cniVersion: '1.1.0',
    interfaces: [{ name: 'br0' }, { name: 'eth0', sandbox: '/x' }],
    ips: [{ address: '10.0.0.1/24', interface: 0 }, { address: '10.0.0.5/24', interface: 1 }, { address: '10.0.0.6/24', interface: 1 }, { address: 'fd00::5/64' }],
  })
  t.same(a, { 4: { family: 4, ip: '10.0.0.5', cidr: '10.0.0.5/24' }, 6: { family: 6, ip: 'fd00::5', cidr: 'fd00::5/64' } })
})

const addrs = { 4: { family: 4 as const, ip: '10.0.0.5', cidr: '10.0.0.5/24' }, 6: { family: 6 as const, ip: 'fd00::5', cidr: 'fd00::5/64' } }

t.test('planEntries: families, coalescing, conflicts', async (t) => {
  const m = (hostPort: number, containerPort: number, hostIP?: string) => ({ hostPort, containerPort, protocol: 'tcp' as const, hostIP })
  const e = planEntries([m(80, 8080)], addrs)
  t.same(e.map((x) => [x.family, x.containerIP]), [[4, '10.0.0.5'], [6, 'fd00::5']], 'no hostIP: every family the container has')
  t.same(planEntries([m(80, 8080, '1.2.3.4')], addrs).map((x) => x.family), [4])
  t.same(planEntries([m(80, 8080, '0.0.0.0')], addrs)[0]?.hostIP, undefined, '0.0.0.0 is every IPv4 address')
  t.equal(code(() => planEntries([m(80, 8080, 'fd00::1')], { 4: addrs[4] })), 7, 'hostIP of a family the container lacks')
  t.equal(code(() => planEntries([m(80, 8080), m(80, 8081)], addrs)), 7, 'two targets for one host port')
  t.equal(code(() => planEntries([m(80, 8080), m(80, 8080, '1.2.3.4')], addrs)), 7, '"every address" and one address')
  const range = planEntries([8000, 8001, 8002, 8004].map((p) => m(p, p)), { 4: addrs[4] })
  t.same(range.map(describeEntry), ['*:8000-8002/tcp', '*:8004/tcp'], 'consecutive ports coalesce')
  const shifted = planEntries([0, 1, 2].map((i) => m(8000 + i, 80 + i)), { 4: addrs[4] })
  t.same(shifted.map(describeEntry), ['*:8000-8002/tcp'])
  t.same(elementEntries(shifted, false).map((x) => `${x.hostPort}>${x.containerPort}`), ['8000>80', '8001>81', '8002>82'], 'shifted ranges without offset DNAT: one element per port')
  t.same(elementEntries(shifted, true).map(describeEntry), ['*:8000-8002/tcp'], 'shifted ranges with offset DNAT: one element')
  const shifted6 = planEntries([0, 1, 2].map((i) => m(8000 + i, 80 + i)), { 6: addrs[6] })
  t.same(elementEntries(shifted6, true).map(describeEntry), ['[*]:8000/tcp', '[*]:8001/tcp', '[*]:8002/tcp'], 'IPv6 shifted ranges: one element per port (no shift6)')
  const noWindow = planEntries(Array.from({ length: 1000 }, (_, i) => m(220 + i, 49 + i)), { 4: addrs[4] })
  t.ok(noWindow.length === 1 && offsetWindow(noWindow[0]!) === undefined && elementEntries(noWindow, true).length === 1000, 'no window (220-1219:49-1048): one element per port even with offset DNAT')
  t.same(elementEntries(range, false).length, 2, 'same-port ranges stay one element')
  t.same(elementEntries(range, true).length, 2)
})

t.test('offsetWindow: the kernel\'s min + port % size lands on the container port for every port of the range', async (t) => {
  // nf_nat_l4proto_unique_tuple with NF_NAT_RANGE_PROTO_OFFSET and base 0: min + (port - 0) % size.
  const kernel = (w: { min: number; max: number }, port: number) => w.min + (port % (w.max - w.min + 1))
  t.same(offsetWindow({ hostPort: 8000, hostPortEnd: 8010, containerPort: 80 }), { min: 80, max: 95 }, "Docker's 8000-8010:80-90")
  let checked = 0
  let none = 0
  let seed = 42
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  for (let k = 0; k < 3000; k++) {
    const n = 2 + rnd(k % 10 === 0 ? 5000 : 100)
    const hostPort = 1 + rnd(65536 - n)
    const containerPort = 1 + rnd(65536 - n)
    const w = offsetWindow({ hostPort, hostPortEnd: hostPort + n - 1, containerPort })
    if (w === undefined) {
      none++
      continue
    }
    if (w.min < 1 || w.max > 65535 || w.max - w.min + 1 < n) t.fail(`window ${w.min}-${w.max} for ${hostPort}+${n}`)
    for (let i = 0; i < n; i++) if (kernel(w, hostPort + i) !== containerPort + i) t.fail(`${hostPort + i} → ${kernel(w, hostPort + i)}, want ${containerPort + i}`)
    checked++
  }
  t.ok(checked > 2900, `a window for nearly every range (${checked} checked, ${none} without)`)
  t.equal(offsetWindow({ hostPort: 3, hostPortEnd: 65535, containerPort: 1 }), undefined, 'none for a range that cannot fit')
})

t.test('overlaps and coalesce', async (t) => {
  const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 80, hostPortEnd: 80, containerIP: '10.0.0.5', containerPort: 80, ...o })
  t.ok(overlaps(e({}), e({ hostIP: '1.2.3.4' })))
  t.notOk(overlaps(e({ hostIP: '1.2.3.5' }), e({ hostIP: '1.2.3.4' })))
  t.notOk(overlaps(e({}), e({ protocol: 'udp' })))
  t.notOk(overlaps(e({}), e({ family: 6 })))
  t.ok(overlaps(e({ hostPort: 70, hostPortEnd: 90 }), e({})))
  t.notOk(overlaps(e({ hostPort: 81, hostPortEnd: 90 }), e({})))
  t.same(coalesce([e({ hostPort: 81, hostPortEnd: 81, containerPort: 81 }), e({})]).map(describeEntry), ['*:80-81/tcp'])
  t.same(coalesce([e({ hostPort: 81, hostPortEnd: 81, containerPort: 82 }), e({})]).length, 2, 'different offsets stay apart')
})

t.test('owner: stable tags, network tag shared, comment fits', async (t) => {
  const a = portmapOwner('net1', 'c1', 'eth0')
  t.equal(a.tag, portmapOwner('net1', 'c1', 'eth0').tag)
  t.not(a.tag, portmapOwner('net1', 'c2', 'eth0').tag)
  t.equal(a.netTag, portmapOwner('net1', 'c2', 'eth1').netTag)
  t.match(a.comment, /^[0-9a-f]{16} [0-9a-f]{8} net:net1 id:c1 if:eth0$/)
  t.ok(Buffer.byteLength(portmapOwner('n'.repeat(300), 'f'.repeat(64), 'eth0').comment) <= 128)
})

t.test('listeners from /proc/net', async (t) => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 10 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 10 0 0 10 0
   2: 0100007F:1F91 0200007F:1234 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 10 0 0 10 0
`
  const l = parseProcNet(tcp, 'tcp', 4)
  t.same(l, [{ protocol: 'tcp', family: 4, ip: '127.0.0.1', port: 8080 }, { protocol: 'tcp', family: 4, ip: '0.0.0.0', port: 80 }], 'listening sockets only')
  const v6 = parseProcNet(`x\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n   1: 000080FE00000000FF2D8A88B50296FE:0035 0 0A 0\n`, 'tcp', 6)
  t.same(v6.map((x) => x.ip), ['::', 'fe80::888a:2dff:fe96:2b5'])
  t.ok(listenerCovers(l[0]!, 4, undefined, 8080), '"every address" includes 127.0.0.1')
  t.ok(listenerCovers(l[0]!, 4, '127.0.0.1', 8080))
  t.notOk(listenerCovers(l[0]!, 4, '10.0.0.1', 8080))
  t.ok(listenerCovers(l[1]!, 4, '10.0.0.1', 80), 'a wildcard listener takes every address')
  t.ok(listenerCovers(v6[0]!, 4, undefined, 8080), 'a dual-stack :: listener takes IPv4 too')
  t.notOk(listenerCovers(l[1]!, 4, undefined, 81))
})

t.test('conntrack flushes', async (t) => {
  t.same(conntrackArgs({ family: 6, protocol: 'udp', origPortDst: 53, origDst: 'fd00::1' }), ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-dst', 'fd00::1', '--orig-port-dst', '53'])
  t.same(conntrackArgs({ family: 4, protocol: 'sctp', replySrc: '10.0.0.5' }), ['-D', '-f', 'ipv4', '-p', 'sctp', '--reply-src', '10.0.0.5'])
  const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'udp', hostPort: 80, hostPortEnd: 80, containerIP: '10.0.0.5', containerPort: 80, ...o })
  t.same(conntrackArgs({ family: 4, protocol: 'udp', replyPortDst: 53, replyDst: '10.0.0.1' }), ['-D', '-f', 'ipv4', '-p', 'udp', '--reply-dst', '10.0.0.1', '--reply-port-dst', '53'])
  t.same(addFlushes([e({ protocol: 'tcp' })]), [], 'TCP needs no flush')
  t.same(
    addFlushes([e({ hostPort: 53, hostPortEnd: 53 })]),
    [{ family: 4, protocol: 'udp', origPortDst: 53, recheck: { family: 4, protocol: 'udp', replyPortDst: 53 } }],
    'flows to the port, then (rechecked) flows the host started from it: an answer that crossed the flush',
  )
  t.same(
    addFlushes([e({ family: 6, hostIP: 'fd00::1', protocol: 'sctp', hostPort: 9, hostPortEnd: 9 })]),
    [{ family: 6, protocol: 'sctp', origPortDst: 9, origDst: 'fd00::1', recheck: { family: 6, protocol: 'sctp', replyPortDst: 9, replyDst: 'fd00::1' } }],
    'a hostIP narrows both',
  )
  t.equal(addFlushes([e({ hostPort: 1000, hostPortEnd: 1002 })]).length, 3, 'one per port of a range')
  t.equal(addFlushes([e({ hostPort: 1000, hostPortEnd: 5000 })]).length, 64, 'capped')
})

t.test('iptables backend: rules, and reading them back from iptables-save', async (t) => {
  const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.0.0.5', containerPort: 80, ...o })
  t.same(dnatArgs(e({})), ['-p', 'tcp', '-m', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.0.0.5:80'])
  t.same(dnatArgs(e({ hostPort: 8000, hostPortEnd: 8010, hostIP: '1.2.3.4', protocol: 'udp' }), ['-s', '9.9.9.9']), ['-s', '9.9.9.9', '-d', '1.2.3.4/32', '-p', 'udp', '-m', 'udp', '--dport', '8000:8010', '-j', 'DNAT', '--to-destination', '10.0.0.5:80-90/8000'], 'a shifted range is one rule')
  t.same(dnatArgs(e({ family: 6, containerIP: 'fd00::5' })).at(-1), '[fd00::5]:80')
  const v6 = parseIptablesSave('*nat\n:BERTH-HOSTPORTS - [0:0]\n-A BERTH-HOSTPORTS -p tcp -m tcp --dport 80 -j DNAT --to-destination [fd00::5]:8080\nCOMMIT\n')[0]
  t.match(savedEntries(6, v6), [{ containerIP: 'fd00::5', containerPort: 8080 }], 'IPv6 targets read back')
  t.same(masqArgs({ family: 4, ip: '10.0.0.5', cidr: '10.0.0.5/24' }, true).map((a) => a[1]), ['10.0.0.0/24', '127.0.0.0/8'])
  const o = portmapOwner('net1', 'c1', 'eth0')
  const first = addIptBatch(4, o, [e({})], masqArgs({ family: 4, ip: '10.0.0.5', cidr: '10.0.0.5/24' }, true), true, { nat: undefined, raw: undefined }).toRestoreText()
  t.match(first, /:BERTH-HOSTPORTS - \[0:0\]/)
  t.match(first, /-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH-HOSTPORTS/)
  t.match(first, /-A OUTPUT -m addrtype --dst-type LOCAL -j BERTH-HOSTPORTS/)
  t.match(first, /\*raw\n-A PREROUTING -m comment --comment "berth portmap: 127.0.0.0\/8 only from lo" ! -i lo -d 127.0.0.0\/8 -j DROP/)
  const save = `*nat
:PREROUTING ACCEPT [0:0]
:BERTH-HOSTPORTS - [0:0]
:BERTH-HOSTPORTS-MASQ - [0:0]
-A BERTH-HOSTPORTS -d 1.2.3.4/32 -p udp -m comment --comment "${o.comment}" -m udp --dport 8000:8010 -j DNAT --to-destination 10.0.0.5:80-90/8000
-A BERTH-HOSTPORTS -p tcp -m comment --comment "${o.comment}" -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.5:80
COMMIT
`
  const nat = parseIptablesSave(save)[0]
  t.same(savedEntries(4, nat).map(({ rule: _r, element: _e, map: _m, ...x }) => x), [
    { family: 4, hostIP: '1.2.3.4', protocol: 'udp', hostPort: 8000, hostPortEnd: 8010, containerIP: '10.0.0.5', containerPort: 80 },
    { family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.0.0.5', containerPort: 80 },
  ])
  const again = addIptBatch(4, o, [e({})], [], false, { nat, raw: undefined }).toRestoreText()
  t.notMatch(again, /BERTH-HOSTPORTS - \[0:0\]/, 'existing chains are not re-declared (that would flush them)')
  t.equal((again.match(/^-D /gm) ?? []).length, 2, "a repeated ADD deletes the owner's old rules")
})
