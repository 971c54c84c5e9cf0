// Key matching as Go's encoding/json does it. Where a row says "reference", the same input was fed to the
// reference plugins in /usr/lib/cni (Go 1.19) and the behaviour asserted is what they did.
import t from 'tap'
import * as z from 'zod/mini'
import type { CniError } from '../../../../pkg/errors/cni-error.js'
import { canonicalise, decodedWhole, exactKeys, keyAsSent, pathAsSent } from '../../../../pkg/cni/go-keys.js'
import { parseConflist, parseNetConf, parseWith, validAttachments } from '../../../../pkg/cni/schema.js'
import { parsePrevResult } from '../../../../pkg/cni/result.js'

const conf = (extra: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'portmap', ...extra })
const KELVIN = '\u212a'
const LONG_S = '\u017f'
const err = (f: () => unknown): CniError => {
  try {
    f()
  } catch (e) {
    return e as CniError
  }
  throw new Error('did not throw')
}

t.test('capabilities in containerd go-cni spelling (struct fields without json tags)', async (t) => {
  const c = parseNetConf(conf({
    runtimeConfig: {
      portMappings: [{ HostPort: 18080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
      ipRanges: [[{ Subnet: '10.1.2.0/24', RangeStart: '10.1.2.10', RangeEnd: '10.1.2.20', Gateway: '10.1.2.1' }]],
      bandwidth: { IngressRate: 1000, IngressBurst: 2000, EgressRate: 3000, EgressBurst: 4000 },
      dns: { Servers: ['8.8.8.8'], Searches: ['corp'], Options: ['ndots:2'] },
    },
  }))
  t.strictSame(c.runtimeConfig, {
    portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp', hostIP: '' }],
    ipRanges: [[{ subnet: '10.1.2.0/24', rangeStart: '10.1.2.10', rangeEnd: '10.1.2.20', gateway: '10.1.2.1' }]],
    bandwidth: { ingressRate: 1000, ingressBurst: 2000, egressRate: 3000, egressBurst: 4000 },
    dns: { servers: ['8.8.8.8'], searches: ['corp'], options: ['ndots:2'] },
  })
  // The capability names themselves come from libcni's map and are exact; other spellings still fold.
  const other = parseNetConf(conf({ RuntimeConfig: { IPs: ['10.1.2.3'], MAC: '02:00:00:00:00:01', InfinibandGUID: 'g', DeviceID: '0000:03:00.1', Aliases: ['db'], CgroupPath: '/x' } }))
  t.strictSame(other.runtimeConfig, { ips: ['10.1.2.3'], mac: '02:00:00:00:00:01', infinibandGUID: 'g', deviceID: '0000:03:00.1', aliases: ['db'], cgroupPath: '/x' })
})

t.test("podman's and CRI-O's spelling (the spec's) is untouched", async (t) => {
  const rc = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'udp', hostIP: '10.0.0.1' }], mac: 'c2:11:22:33:44:55' }
  t.strictSame(parseNetConf(conf({ runtimeConfig: rc })).runtimeConfig, rc)
  // already canonical: nothing is copied
  const S = z.looseObject({ a: z.optional(z.looseObject({ b: z.number() })), list: z.optional(z.array(z.looseObject({ c: z.string() }))) })
  const value = { a: { b: 1 }, list: [{ c: 'x' }], other: { B: 2 } }
  t.equal(canonicalise(S, value).value, value, 'the same object back')
})

t.test('any case, and Go folding of the Kelvin sign and the long s (not JS toLowerCase)', async (t) => {
  const pm = (m: Record<string, unknown>) => parseNetConf(conf({ runtimeConfig: { portMappings: [{ containerPort: 80, ...m }] } })).runtimeConfig?.portMappings?.[0]?.hostPort
  t.equal(pm({ HOSTPORT: 1 }), 1)
  t.equal(pm({ hostport: 2 }), 2)
  t.equal(pm({ hOsTpOrT: 3 }), 3)
  t.equal(pm({ [`ho${LONG_S}tPort`]: 4 }), 4, 'U+017F folds to s')
  const S = z.looseObject({ markMasqBit: z.optional(z.number()), mask: z.optional(z.number()) })
  t.strictSame(parseWith(S, { [`mar${KELVIN}MasqBit`]: 13 }, 'c'), { markMasqBit: 13 }, 'U+212A folds to k (reference portmap: out of range error)')
  t.strictSame(parseWith(S, { [`${KELVIN}arkMasqBit`]: 13 }, 'c'), { [`${KELVIN}arkMasqBit`]: 13 }, 'but only where the field has a k')
  // Letters JS would lower-case (or Unicode would fold) that Go does not: no match (reference: ignored).
  for (const key of ['markMasqB\u0130t', 'markMasqB\u0131t', 'markMasqBİT', 'ｍarkMasqBit', 'mask\u0307']) {
    t.strictSame(Object.keys(parseWith(S, { [key]: 1 }, 'c')), [key], `${JSON.stringify(key)} is not a field`)
  }
  // Non-letters match exactly.
  const Gc = z.looseObject({ 'cni.dev/valid-attachments': z.optional(z.array(z.unknown())) })
  t.strictSame(parseWith(Gc, { 'CNI.DEV/VALID-ATTACHMENTS': [] }, 'c'), { 'cni.dev/valid-attachments': [] })
  t.strictSame(parseWith(Gc, { 'cni.dev/valid_attachments': [] }, 'c'), { 'cni.dev/valid_attachments': [] })
  t.strictSame(parseWith(Gc, { 'cni-dev/valid-attachments': [] }, 'c'), { 'cni-dev/valid-attachments': [] })
})

t.test('an exact name wins; otherwise the first field, in shape order, that folds the same', async (t) => {
  const S = z.looseObject({ mtu: z.optional(z.string()), MTU: z.optional(z.string()), Mtu: z.optional(z.string()) })
  t.strictSame(parseWith(S, { MTU: 'a' }, 'c'), { MTU: 'a' }, 'exact')
  t.strictSame(parseWith(S, { Mtu: 'b' }, 'c'), { Mtu: 'b' }, 'exact, later field')
  t.strictSame(parseWith(S, { mTU: 'c' }, 'c'), { mtu: 'c' }, 'folded: the first field')
  const Ordered = z.looseObject({ B: z.optional(z.number()), b: z.optional(z.number()) })
  t.strictSame(parseWith(Ordered, { B_: 1, bB: 2 }, 'c'), { B_: 1, bB: 2 }, 'unrelated keys untouched')
  t.strictSame(parseWith(Ordered, { b: 1 }, 'c'), { b: 1 })
})

t.test('one field sent under two spellings: document order, the last wins', async (t) => {
  const first = (m: Record<string, unknown>) => parseNetConf(conf({ runtimeConfig: { portMappings: [m] } })).runtimeConfig?.portMappings?.[0]
  // reference portmap: hostPort 18087 then HostPort 18088 → DNAT on 18088
  t.strictSame(first({ hostPort: 18087, HostPort: 18088, containerPort: 80 }), { hostPort: 18088, containerPort: 80 })
  t.strictSame(first({ HostPort: 18088, hostPort: 18087, containerPort: 80 }), { hostPort: 18087, containerPort: 80 })
  t.strictSame(first({ HostPort: 1, HOSTPORT: 2, hostport: 3, containerPort: 80 }), { hostPort: 3, containerPort: 80 })
  // a bad value under the earlier spelling is overwritten before validation, as in Go
  t.strictSame(first({ HostPort: 'x', hostPort: 5, containerPort: 80 }), { hostPort: 5, containerPort: 80 })
})

t.test('objects sent twice merge into the one already decoded (Go reuses the struct)', async (t) => {
  const c = parseNetConf(conf({ dns: { nameservers: ['1.1.1.1'], domain: 'a' }, DNS: { Domain: 'b', search: ['s'] } }))
  t.strictSame(c.dns, { nameservers: ['1.1.1.1'], domain: 'b', search: ['s'] })
  const bw = parseNetConf(conf({ runtimeConfig: { bandwidth: { ingressRate: 1, egressRate: 2 } }, RuntimeConfig: { Bandwidth: { IngressRate: 9 } } }))
  t.strictSame(bw.runtimeConfig?.bandwidth, { ingressRate: 9, egressRate: 2 }, 'nested structs merge too')
  // Maps (records) merge their keys; a key in both takes the later value whole (Go zeroes a map element).
  const caps = parseNetConf(conf({ capabilities: { portMappings: true, mac: false }, Capabilities: { mac: true, ips: true } }))
  t.strictSame(caps.capabilities, { portMappings: true, mac: true, ips: true })
  const S = z.looseObject({ m: z.optional(z.record(z.string(), z.looseObject({ a: z.optional(z.number()), b: z.optional(z.number()) }))) })
  t.strictSame(parseWith(S, { m: { k: { a: 1 } }, M: { k: { b: 2 } } }, 'c'), { m: { k: { b: 2 } } }, 'map values are replaced, not merged')
  // A scalar after an object (or the reverse) replaces it; validation then says what is wrong.
  t.throws(() => parseNetConf(conf({ dns: { domain: 'a' }, DNS: 'x' })), { code: 7, message: 'invalid network configuration: DNS: expected object, received string' })
})

t.test('arrays sent twice decode element by element into the slice already there (reference host-local)', async (t) => {
  const S = z.looseObject({ ranges: z.optional(z.array(z.array(z.looseObject({ subnet: z.string(), rangeStart: z.optional(z.string()) })))) })
  const r = (v: Record<string, unknown>) => parseWith(S, v, 'ipam').ranges
  const a = { subnet: 'A', rangeStart: 'A50' }
  t.strictSame(r({ ranges: [[a]], Ranges: [[{ subnet: 'A' }]] }), [[{ subnet: 'A', rangeStart: 'A50' }]], 'the element keeps fields the later one lacks')
  t.strictSame(r({ ranges: [[a]], Ranges: [[{ subnet: 'A' }], [{ subnet: 'B' }]] }), [[a], [{ subnet: 'B' }]], 'longer: new elements are fresh')
  t.strictSame(r({ ranges: [[a], [{ subnet: 'B' }]], Ranges: [[{ subnet: 'C' }]] }), [[{ subnet: 'C', rangeStart: 'A50' }]], 'shorter: the length is the later one')
  // Go keeps the elements past the length within the slice's capacity (4 for up to 4 elements), and a
  // third, longer array decodes into them.
  const six = r({ ranges: [[{ subnet: 'A' }], [{ subnet: 'B', rangeStart: 'B50' }], [{ subnet: 'C' }]], Ranges: [[{ subnet: 'D' }]], RANGES: [[{ subnet: 'D' }], [{ subnet: 'B' }]] })
  t.strictSame(six, [[{ subnet: 'D' }], [{ subnet: 'B', rangeStart: 'B50' }]], 'within capacity: the old element comes back')
  t.strictSame(r({ ranges: [[a]], Ranges: [], RANGES: [[{ subnet: 'A' }]] }), [[{ subnet: 'A' }]], 'an empty array is a new slice without capacity')
  const five = Array.from({ length: 5 }, (_, i) => [{ subnet: `S${i}`, rangeStart: `R${i}` }])
  const grown = r({ ranges: five.slice(0, 4), Ranges: [], RANGES: five.map(([e]) => [{ subnet: e?.subnet }]) })
  t.strictSame(grown?.map((s) => s[0]?.rangeStart), [undefined, undefined, undefined, undefined, undefined], 'growing copies only the elements in use')
  // Types with their own UnmarshalJSON (cni's Route, IPConfig) are replaced (reference host-local routes).
  const R = z.looseObject({ routes: z.optional(z.array(decodedWhole(z.looseObject({ dst: z.string(), gw: z.optional(z.string()) })))) })
  t.strictSame(parseWith(R, { routes: [{ dst: 'a', gw: 'g' }], Routes: [{ dst: 'b' }] }, 'ipam'), { routes: [{ dst: 'b' }] })
})

t.test('record keys are kept exactly; their values are canonicalised', async (t) => {
  const c = parseNetConf(conf({ capabilities: { PortMappings: true, portMappings: false } }))
  t.strictSame(c.capabilities, { PortMappings: true, portMappings: false })
  t.strictSame(parseNetConf(conf({ args: { CNI: { X: 1 }, cni: { y: 2 } } })).args, { CNI: { X: 1 }, cni: { y: 2 } })
  const S = z.looseObject({ sysctl: z.optional(z.record(z.string(), z.looseObject({ value: z.string() }))) })
  t.strictSame(parseWith(S, { Sysctl: { 'Net.IPv4.X': { VALUE: '1' } } }, 'c'), { sysctl: { 'Net.IPv4.X': { value: '1' } } })
})

t.test('unknown keys are ignored and kept as sent', async (t) => {
  const c = parseNetConf(conf({ Bridge: 'cni0', futureKey: { Deep: 1 }, runtimeConfig: { FutureCap: [1], PortMappings: [] } }))
  t.equal(c['Bridge'], 'cni0')
  t.strictSame(c['futureKey'], { Deep: 1 })
  t.strictSame(c.runtimeConfig, { FutureCap: [1], portMappings: [] })
  // "__proto__" from JSON is an own key; it must not become the prototype
  const p = parseWith(z.looseObject({ a: z.optional(z.number()) }), JSON.parse('{"A":1,"__proto__":{"polluted":true}}') as unknown, 'c') as Record<string, unknown>
  t.equal(p['a'], 1)
  t.equal(({} as Record<string, unknown>)['polluted'], undefined)
})

t.test('the envelope, the plugin: a later, wider schema decodes merged keys again with its own fields', async (t) => {
  // reference host-local: "ipam" then "IPAM" merge; "ranges" in both merge element-wise
  const c = parseNetConf(conf({
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.4.0.0/24', rangeStart: '10.4.0.50' }]], dataDir: '/a' },
    IPAM: { Ranges: [[{ subnet: '10.4.0.0/24' }]], DataDir: '/b', dataDir: '/c' },
  }))
  const Ipam = z.looseObject({ type: z.string(), ranges: z.array(z.array(z.looseObject({ subnet: z.string(), rangeStart: z.optional(z.string()) }))), dataDir: z.string() })
  const ipam = parseWith(Ipam, c.ipam, 'ipam')
  t.strictSame(ipam.ranges, [[{ subnet: '10.4.0.0/24', rangeStart: '10.4.0.50' }]])
  t.equal(ipam.dataDir, '/c', 'dataDir, DataDir, dataDir: the last in document order')
  const again = parseWith(Ipam, { ...ipam, ranges: [[{ subnet: '10.9.0.0/24' }]] }, 'ipam')
  t.strictSame(again.ranges, [[{ subnet: '10.9.0.0/24' }]], 'a copy made by code is read as it is')
  // args: a record in the envelope (map semantics), a struct for the plugin that reads it
  const a = parseNetConf(conf({ args: { cni: { ips: ['10.4.0.9'] } }, Args: { cni: { mac: '02:00:00:00:00:01' } } }))
  t.strictSame(a.args, { cni: { mac: '02:00:00:00:00:01' } }, 'the envelope map: the later value of "cni" whole')
  const Args = z.looseObject({ cni: z.optional(z.looseObject({ ips: z.optional(z.array(z.string())), mac: z.optional(z.string()) })) })
  t.strictSame(parseWith(Args, a.args, 'args').cni, { ips: ['10.4.0.9'], mac: '02:00:00:00:00:01' }, 'the plugin struct: merged')
})

t.test('prevResult in Go spelling, 0.4.0 and 1.0.0', async (t) => {
  const one = parseNetConf(conf({
    cniVersion: '1.0.0',
    prevResult: { CNIVersion: '1.0.0', Interfaces: [{ Name: 'eth0', Mac: '02:00:00:00:00:01', Sandbox: '/run/netns/a', MTU: 1400 }], IPs: [{ Address: '10.0.0.2/24', Gateway: '10.0.0.1', Interface: 0 }], Routes: [{ Dst: '0.0.0.0/0', GW: '10.0.0.1' }], DNS: { Nameservers: ['10.0.0.1'] } },
  }))
  t.strictSame(one.prevResult, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1400, sandbox: '/run/netns/a' }],
    ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    dns: { nameservers: ['10.0.0.1'] },
  })
  const old = parseNetConf(conf({ cniVersion: '0.4.0', PrevResult: { CniVersion: '0.4.0', IPS: [{ Version: '4', ADDRESS: '10.0.0.2/24' }] } }))
  t.strictSame(old.prevResult, { cniVersion: '0.4.0', ips: [{ address: '10.0.0.2/24' }] })
  t.throws(() => parseNetConf(conf({ cniVersion: '0.4.0', prevResult: { IPs: [{ Version: '6', Address: '10.0.0.2/24' }] } })), { code: 6, message: 'failed to decode prevResult: ips[0].version: "6" does not match address 10.0.0.2/24' })
  t.throws(() => parseNetConf(conf({ prevResult: { IPs: [{ Address: '10.0.0.2' }] } })), { code: 6, message: 'failed to decode prevResult: IPs[0].Address: expected an IP address with prefix length (CIDR), received "10.0.0.2"' })
})

t.test("prevResult keys in Go's map order, with cni's CNIVersion (reference portmap)", async (t) => {
  // cni marshals RawPrevResult (a map) before decoding it: keys sorted, so "ips" follows "IPs" whatever the order sent
  for (const prev of [{ ips: [{ address: '10.88.0.7/16' }], IPs: [{ address: '10.88.0.8/16' }] }, { IPs: [{ address: '10.88.0.8/16' }], ips: [{ address: '10.88.0.7/16' }] }]) {
    t.strictSame(parsePrevResult({ cniVersion: '1.0.0', ...prev }, '1.0.0').ips, [{ address: '10.88.0.7/16' }])
  }
  // "CNIVersion" is set to the config's version unless present: "CNIVERSION" sorts before it, "cniversion" after
  t.equal(parsePrevResult({ CNIVERSION: '0.4.0' }, '1.0.0').cniVersion, '1.0.0')
  t.throws(() => parsePrevResult({ cniversion: '0.4.0' }, '1.0.0'), { code: 1, message: /prevResult is "0.4.0" but config is "1.0.0"/ })
  // "prevResult" and "PrevResult" are one map: their keys merge
  const c = parseNetConf(conf({ cniVersion: '1.0.0', prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.88.0.10/16' }] }, PrevResult: { routes: [{ dst: '0.0.0.0/0' }] } }))
  t.strictSame(c.prevResult, { cniVersion: '1.0.0', ips: [{ address: '10.88.0.10/16' }], routes: [{ dst: '0.0.0.0/0' }] })
})

t.test('errors name keys as the runtime spelled them', async (t) => {
  const wrong = err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ HostPort: '18080', ContainerPort: 80, Protocol: 'tcp' }] } })))
  t.equal(wrong.code, 7)
  t.equal(wrong.message, 'invalid network configuration: runtimeConfig.portMappings[0].HostPort: expected number, received string')
  t.equal(err(() => parseNetConf(conf({ RuntimeConfig: { PortMappings: [{ hostport: 70000, containerPort: 80 }] } }))).message, 'invalid network configuration: RuntimeConfig.PortMappings[0].hostport: must be <= 65535, received 70000')
  // a wrong type under any spelling is 7
  const spellings: [string, string][] = [['hostPort', '.hostPort'], ['HostPort', '.HostPort'], ['HOSTPORT', '.HOSTPORT'], [`ho${LONG_S}tport`, `["ho${LONG_S}tport"]`]]
  for (const [key, shown] of spellings) {
    const e = err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ [key]: true, containerPort: 80 }] } })))
    t.equal(e.code, 7, key)
    t.equal(e.message, `invalid network configuration: runtimeConfig.portMappings[0]${shown}: expected number, received boolean`)
  }
  // missing under every spelling: named in the style of its siblings
  const goStyle = err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] } })))
  t.equal(goStyle.code, 7)
  t.equal(goStyle.message, 'invalid network configuration: runtimeConfig.portMappings[0].HostPort: missing (expected number)')
  t.equal(err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ containerPort: 80 }] } }))).message, 'invalid network configuration: runtimeConfig.portMappings[0].hostPort: missing (expected number)')
  t.equal(err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ CONTAINERPORT: 80 }] } }))).message, 'invalid network configuration: runtimeConfig.portMappings[0].hostPort: missing (expected number)', 'upper case is not Go style')
  t.equal(err(() => parseNetConf(conf({ runtimeConfig: { ipRanges: [[{ RangeStart: '10.0.0.1' }]] } }))).message, 'invalid network configuration: runtimeConfig.ipRanges[0][0].Subnet: missing (expected string)')
  t.equal(err(() => parseNetConf(conf({ IPAM: { Type: '/x' } }))).message, 'invalid network configuration: IPAM.Type: must be a plugin name, not a path, received "/x"')
  t.equal(err(() => parseNetConf(conf({ IPAM: { Subnet: '10.0.0.0/8' } }))).message, 'invalid network configuration: IPAM.type: missing (expected string)', 'style is judged on matched keys only')
  // every issue in details
  t.equal(err(() => parseNetConf(conf({ runtimeConfig: { portMappings: [{ ContainerPort: 'x' }] } }))).details, 'runtimeConfig.portMappings[0].HostPort: missing (expected number)\nruntimeConfig.portMappings[0].ContainerPort: expected number, received string')
})

t.test('name and cniVersion are found under any spelling before the envelope (skel reads them through structs)', async (t) => {
  const c = parseNetConf(JSON.stringify({ CNIVersion: '1.0.0', Name: 'n', Type: 'bridge' }))
  t.strictSame({ cniVersion: c.cniVersion, name: c.name, type: c.type }, { cniVersion: '1.0.0', name: 'n', type: 'bridge' })
  t.throws(() => parseNetConf(JSON.stringify({ CNIVersion: '9.9.9', NAME: 'n', type: 'bridge' })), { code: 1, message: /config is "9.9.9"/ })
  t.throws(() => parseNetConf(JSON.stringify({ cniVersion: '1.0.0', NAME: 'bad name', type: 'bridge' })), { code: 7, message: /invalid characters found in network name "bad name"/ })
})

t.test('GC valid attachments under any spelling', async (t) => {
  const list = [{ ContainerID: 'c1', IfName: 'eth0' }]
  t.strictSame(validAttachments(parseNetConf(conf({ 'CNI.dev/Valid-Attachments': list }))), [{ containerID: 'c1', ifname: 'eth0' }])
  t.strictSame(validAttachments(parseNetConf(conf({ 'cni.dev/attachments': list, 'Cni.Dev/Valid-Attachments': [] }))), [], "the spec's key wins")
  t.throws(() => validAttachments(parseNetConf(conf({ 'CNI.DEV/VALID-ATTACHMENTS': [{ ContainerID: 'c1' }] }))), { code: 7, message: 'invalid network configuration: ["CNI.DEV/VALID-ATTACHMENTS"][0].Ifname: missing (expected string)' })
  t.equal(validAttachments(parseNetConf(conf({ 'cni.dev/valid_attachments': list }))), undefined, 'non-letters must match')
})

t.test("the conflist's own keys match exactly (libcni reads a map); plugin objects as Go structs", async (t) => {
  const list = parseConflist(JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ Type: 'bridge', Capabilities: { portMappings: true } }] }))
  t.strictSame(list.plugins, [{ type: 'bridge', capabilities: { portMappings: true } }])
  t.throws(() => parseConflist(JSON.stringify({ cniVersion: '1.0.0', Name: 'n', plugins: [{ type: 'bridge' }] })), { code: 7, message: 'invalid network configuration list: name: missing (expected string)' })
  t.throws(() => parseConflist(JSON.stringify({ CNIVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }] })), { code: 7, message: /cniVersion: missing/ })
})

t.test('schema shapes: wrappers, lazy, pipe, tuple, intersection, unions', async (t) => {
  const Inner = z.looseObject({ fooBar: z.number() })
  const wrapped = z.looseObject({
    opt: z.optional(Inner),
    nul: z.nullable(Inner),
    def: z._default(Inner, { fooBar: 0 }),
    ro: z.readonly(Inner),
    lazy: z.lazy(() => Inner),
    piped: z.pipe(Inner, z.transform((v) => v.fooBar)),
    tuple: z.tuple([Inner, z.string()], Inner),
  })
  const v = parseWith(wrapped, { Opt: { FooBar: 1 }, NUL: { foobar: 2 }, Def: { FOOBAR: 3 }, Ro: { fooBAR: 4 }, Lazy: { FooBar: 5 }, Piped: { FooBar: 6 }, Tuple: [{ FooBar: 7 }, 'x', { FooBar: 8 }] }, 'c')
  t.strictSame(v, { opt: { fooBar: 1 }, nul: { fooBar: 2 }, def: { fooBar: 3 }, ro: { fooBar: 4 }, lazy: { fooBar: 5 }, piped: 6, tuple: [{ fooBar: 7 }, 'x', { fooBar: 8 }] })
  const Both = z.intersection(z.looseObject({ aa: z.number() }), z.looseObject({ bb: z.number() }))
  t.strictSame(parseWith(Both, { AA: 1, BB: 2 }, 'c'), { aa: 1, bb: 2 })
  // Unions: every alternative's fields at once, so the alternative zod picks sees its names.
  const Store = z.discriminatedUnion('type', [
    z.looseObject({ type: z.literal('file'), path: z.optional(z.string()) }),
    z.looseObject({ type: z.literal('etcd'), endpoints: z.array(z.string()) }),
  ])
  t.strictSame(parseWith(Store, { Type: 'etcd', Endpoints: ['http://a:2379'] }, 'store'), { type: 'etcd', endpoints: ['http://a:2379'] })
  t.strictSame(parseWith(Store, { TYPE: 'file', Path: '/x' }, 'store'), { type: 'file', path: '/x' })
  const Mixed = z.union([z.array(z.looseObject({ xY: z.number() })), z.looseObject({ xY: z.number() }), z.number()])
  t.strictSame(parseWith(Mixed, [{ XY: 1 }], 'c'), [{ xY: 1 }])
  t.strictSame(parseWith(Mixed, { Xy: 1 }, 'c'), { xY: 1 })
  t.equal(parseWith(Mixed, 3, 'c'), 3)
  const Exact = exactKeys(z.looseObject({ name: z.optional(z.string()), inner: z.optional(Inner) }))
  t.strictSame(parseWith(Exact, { Name: 'x', inner: { FOOBAR: 1 } }, 'c'), { Name: 'x', inner: { fooBar: 1 } }, 'exactKeys: this level only')
})

t.test('keyAsSent and pathAsSent answer for the parsed output too', async (t) => {
  const c = parseNetConf(conf({ RuntimeConfig: { PortMappings: [{ HostPort: 1, ContainerPort: 2 }] } }))
  t.strictSame(pathAsSent(c, ['runtimeConfig', 'portMappings', 0, 'hostPort']), ['RuntimeConfig', 'PortMappings', 0, 'HostPort'])
  const m = c.runtimeConfig?.portMappings?.[0]
  t.equal(keyAsSent(m, 'containerPort'), 'ContainerPort')
  t.equal(keyAsSent(m, 'protocol'), 'Protocol', 'absent: in the style of its siblings')
  t.equal(keyAsSent({ hostPort: 1 }, 'hostPort'), 'hostPort', 'a plain object: as is')
  t.equal(keyAsSent(undefined, 'x'), 'x')
})
