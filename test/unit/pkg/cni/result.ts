// Expected outputs were produced by containernetworking/cni's own types (create.CreateFromBytes +
// GetAsVersion + json.Marshal) on the same inputs, then written out here by hand.
import t from 'tap'
import type { CniError } from '../../../../pkg/errors/cni-error.js'
import { convertResult, parsePrevResult, parseResult, type CniResult } from '../../../../pkg/cni/result.js'

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
const legacy = (v: string) => v.startsWith('0.')

// A 1.x result: dual-stack, gateways, interface indexes, 1.1.0 interface and route fields, full dns.
// Written non-canonically (upper-case, uncompressed IPv6) on purpose.
const src1 = (cniVersion: string) => ({
  cniVersion,
  interfaces: [
    { name: 'cni0', mac: '00:11:22:33:44:55', mtu: 1500 },
    { name: 'veth1', mac: 'aa:bb:cc:dd:ee:ff' },
    { name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue', mtu: 9000, socketPath: '/run/s.sock', pciID: '0000:00:1f.6' },
  ],
  ips: [
    { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
    { address: '2001:DB8::5/64', gateway: '2001:db8:0::1', interface: 0 },
  ],
  routes: [
    { dst: '0.0.0.0/0' },
    { dst: '::/0', gw: '2001:db8::1', mtu: 1400, advmss: 1360, priority: 100, table: 100, scope: 0 },
    { dst: '192.168.0.0/16', gw: '10.1.0.254', table: 0, scope: 253 },
  ],
  dns: { nameservers: ['10.1.0.1', '2001:db8::53'], domain: 'example.com', search: ['a.example.com'], options: ['ndots:2'] },
})
const dns1 = { nameservers: ['10.1.0.1', '2001:db8::53'], domain: 'example.com', search: ['a.example.com'], options: ['ndots:2'] }
const routes1 = [
  { dst: '0.0.0.0/0' },
  { dst: '::/0', gw: '2001:db8::1', mtu: 1400, advmss: 1360, priority: 100, table: 100, scope: 0 },
  { dst: '192.168.0.0/16', gw: '10.1.0.254', table: 0, scope: 253 },
]
const want1 = (to: string) =>
  legacy(to)
    ? {
        cniVersion: to,
        // 0.x interfaces have no mtu, socketPath or pciID
        interfaces: [
          { name: 'cni0', mac: '00:11:22:33:44:55' },
          { name: 'veth1', mac: 'aa:bb:cc:dd:ee:ff' },
          { name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue' },
        ],
        ips: [
          { version: '4', interface: 2, address: '10.1.0.5/16', gateway: '10.1.0.1' },
          { version: '6', interface: 0, address: '2001:db8::5/64', gateway: '2001:db8::1' },
        ],
        routes: routes1, // the 1.1.0 route fields survive: one Go Route type for all versions
        dns: dns1,
      }
    : {
        cniVersion: to,
        interfaces: [
          { name: 'cni0', mac: '00:11:22:33:44:55', mtu: 1500 },
          { name: 'veth1', mac: 'aa:bb:cc:dd:ee:ff' },
          { name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue', mtu: 9000, socketPath: '/run/s.sock', pciID: '0000:00:1f.6' },
        ],
        ips: [
          { interface: 2, address: '10.1.0.5/16', gateway: '10.1.0.1' },
          { interface: 0, address: '2001:db8::5/64', gateway: '2001:db8::1' },
        ],
        routes: routes1,
        dns: dns1,
      }

// A 0.x result. Its interface "mtu"/"pciID" are not 0.x fields, so they are ignored like any unknown key.
const src0 = (cniVersion: string) => ({
  cniVersion,
  interfaces: [{ name: 'cni0', mac: '00:11:22:33:44:55', mtu: 1500, pciID: 'x' }, { name: 'eth0', sandbox: '/var/run/netns/blue' }],
  ips: [
    { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 1 },
    { version: '6', address: '2001:db8::5/64', interface: 1 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.2.0.0/16', mtu: 1300, scope: 253 }],
  dns: { nameservers: ['10.1.0.1'] },
})
const want0 = (to: string) => ({
  cniVersion: to,
  interfaces: [{ name: 'cni0', mac: '00:11:22:33:44:55' }, { name: 'eth0', sandbox: '/var/run/netns/blue' }],
  ips: legacy(to)
    ? [
        { version: '4', interface: 1, address: '10.1.0.5/16', gateway: '10.1.0.1' },
        { version: '6', interface: 1, address: '2001:db8::5/64' },
      ]
    : [
        { interface: 1, address: '10.1.0.5/16', gateway: '10.1.0.1' },
        { interface: 1, address: '2001:db8::5/64' },
      ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.2.0.0/16', mtu: 1300, scope: 253 }],
  dns: { nameservers: ['10.1.0.1'] },
})
const source = (from: string) => (legacy(from) ? src0(from) : src1(from))
const want = (from: string, to: string) => (legacy(from) ? want0(to) : want1(to))

t.test('conversion table: every (from, to) pair', async (t) => {
  for (const from of VERSIONS) {
    for (const to of VERSIONS) {
      const parsed = parseResult(source(from))
      t.equal(parsed.cniVersion, from, `${from} keeps its version when parsed`)
      t.strictSame(convertResult(parsed, to), want(from, to), `${from} -> ${to}`)
    }
  }
})

t.test('round trips', async (t) => {
  for (const from of VERSIONS) {
    const first = convertResult(parseResult(source(from)), from)
    for (const to of VERSIONS) {
      const back = convertResult(parseResult(JSON.stringify(convertResult(parseResult(source(from)), to))), from)
      if (legacy(to) && !legacy(from)) {
        // the only loss: 1.x-only interface fields do not exist in 0.x
        t.strictSame(back, { ...first, interfaces: want1('0.4.0').interfaces }, `${from} -> ${to} -> ${from} loses interface mtu/socketPath/pciID`)
      } else {
        t.strictSame(back, first, `${from} -> ${to} -> ${from}`)
      }
    }
  }
})

t.test('the canonical shape', async (t) => {
  const r = parseResult(src1('1.1.0'))
  t.strictSame(r.ips, [
    { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
    { address: '2001:db8::5/64', gateway: '2001:db8::1', interface: 0 },
  ])
  t.strictSame(r.interfaces?.[2], { name: 'eth0', mac: '99:88:77:66:55:44', mtu: 9000, sandbox: '/var/run/netns/blue', socketPath: '/run/s.sock', pciID: '0000:00:1f.6' })
  t.strictSame(parseResult(src0('0.4.0')).interfaces, [{ name: 'cni0', mac: '00:11:22:33:44:55' }, { name: 'eth0', sandbox: '/var/run/netns/blue' }])
  // 1.x ignores a stray ips[].version, as Go's 1.x type has no such field
  t.strictSame(parseResult({ cniVersion: '1.0.0', ips: [{ version: '6', address: '10.0.0.2/24' }] }).ips, [{ address: '10.0.0.2/24' }])
})

t.test("Go's \"unset\" spellings: null, empty strings, zero mtu/advmss/priority", async (t) => {
  const r = parseResult({
    cniVersion: '1.1.0',
    interfaces: [{ name: 'e', mac: '', mtu: 0, sandbox: '' }],
    ips: [{ address: '10.0.0.2/24', gateway: '', interface: null }],
    routes: [{ dst: '10.0.0.0/8', gw: null, mtu: 0, advmss: 0, priority: 0 }],
    dns: { domain: '', nameservers: [], search: null },
    extra: 'ignored',
  })
  t.strictSame(r, { cniVersion: '1.1.0', interfaces: [{ name: 'e' }], ips: [{ address: '10.0.0.2/24' }], routes: [{ dst: '10.0.0.0/8' }] })
  t.strictSame(parseResult({ cniVersion: '1.0.0', interfaces: null, ips: null, routes: null, dns: null }), { cniVersion: '1.0.0' })
})

t.test('empty results print like Go: 0.x always has dns, 1.x omits it', async (t) => {
  for (const to of VERSIONS) {
    t.strictSame(convertResult({ cniVersion: '1.1.0' }, to), legacy(to) ? { cniVersion: to, dns: {} } : { cniVersion: to })
    t.strictSame(convertResult({ cniVersion: '1.1.0', interfaces: [], ips: [], routes: [], dns: { search: [] } }, to), legacy(to) ? { cniVersion: to, dns: {} } : { cniVersion: to })
  }
})

t.test('IPv4-mapped IPv6 is IPv4, as Go prints it', async (t) => {
  const r = parseResult({ cniVersion: '1.1.0', ips: [{ address: '::ffff:10.0.0.2/120', gateway: '::FFFF:10.0.0.1' }] })
  t.strictSame(r.ips, [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }])
  t.strictSame(convertResult(r, '0.4.0')['ips'], [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }])
  t.throws(() => parseResult({ cniVersion: '1.1.0', ips: [{ address: '::ffff:10.0.0.2/64' }] }), { code: 6, message: /ips\[0\]\.address/ })
})

t.test('convertResult trusts in-memory results but applies omitempty', async (t) => {
  const mem: CniResult = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mtu: 0, mac: '' }],
    ips: [{ address: 'fd00::2/64', interface: 0, gateway: '' }],
    routes: [{ dst: 'fd00::/8', mtu: 0, table: 0 }],
  }
  t.strictSame(convertResult(mem, '0.3.1'), {
    cniVersion: '0.3.1',
    interfaces: [{ name: 'eth0' }],
    ips: [{ version: '6', interface: 0, address: 'fd00::2/64' }],
    routes: [{ dst: 'fd00::/8', table: 0 }],
    dns: {},
  })
  // a malformed in-memory address still gets a version (by its look), rather than a crash
  t.strictSame(convertResult({ cniVersion: '1.1.0', ips: [{ address: 'fd00::x' }, { address: 'x' }] }, '0.4.0')['ips'], [
    { version: '6', address: 'fd00::x' },
    { version: '4', address: 'x' },
  ])
  // the output does not alias the input
  const dns = { nameservers: ['1.1.1.1'] }
  const out = convertResult({ cniVersion: '1.0.0', dns }, '1.0.0')
  t.not(out['dns'], dns)
})

t.test('unsupported target versions are code 1', async (t) => {
  for (const to of ['0.1.0', '0.2.0', '9.9.9', '1.1']) {
    t.throws(() => convertResult({ cniVersion: '1.1.0' }, to), { name: 'CniError', code: 1, message: `incompatible CNI versions: the requested result is ${JSON.stringify(to)}` }, to)
  }
  t.throws(() => convertResult({ cniVersion: '1.1.0' }, ''), { code: 1, message: 'the requested result has no cniVersion (that means 0.1.0)' })
})

t.test('versions: missing, fallback, unsupported', async (t) => {
  t.throws(() => parseResult({ ips: [] }), { code: 1, message: 'incompatible CNI versions: result has no cniVersion (that means 0.1.0)' })
  t.throws(() => parseResult({ cniVersion: '' }, 'IPAM result'), { code: 1, message: 'IPAM result has no cniVersion' })
  t.equal(parseResult({ ips: [] }, 'IPAM result', { fallbackVersion: '0.4.0' }).cniVersion, '0.4.0')
  t.equal(parseResult({ cniVersion: '' }, 'r', { fallbackVersion: '1.0.0' }).cniVersion, '1.0.0')
  t.throws(() => parseResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } }), { code: 1, message: 'incompatible CNI versions: result is "0.2.0"' })
  t.throws(() => parseResult({ cniVersion: '9.9.9' }), { code: 1, message: /result is "9\.9\.9", plugin supports 0\.3\.0/ })
  t.throws(() => parseResult({ cniVersion: '1.0.0' }, 'r', { supported: ['1.1.0'] }), { code: 1, message: /plugin supports 1\.1\.0$/ })
  t.throws(() => parseResult({ cniVersion: 1 }), { code: 6, message: 'failed to decode result: cniVersion: expected string, received number' })
})

t.test('decode errors are code 6 and name `what` and the field', async (t) => {
  const v1 = (extra: Record<string, unknown>) => ({ cniVersion: '1.1.0', interfaces: [{ name: 'a' }, { name: 'b' }], ...extra })
  const rows: [string, unknown, string][] = [
    ['bad JSON', '{"cniVersion": "1.1.0",', 'failed to parse result: '],
    ['empty text', '  ', 'failed to parse result: empty input'],
    ['array', [], 'failed to decode result: expected object, received array'],
    ['null', null, 'failed to decode result: expected object, received null'],
    ['address without prefix', v1({ ips: [{ address: '10.0.0.1' }] }), 'failed to decode result: ips[0].address: expected an IP address with prefix length (CIDR), received "10.0.0.1"'],
    ['prefix too long', v1({ ips: [{ address: '10.0.0.1/33' }] }), 'ips[0].address: expected an IP address with prefix length'],
    ['leading zero octet', v1({ ips: [{ address: '10.0.0.01/24' }] }), 'ips[0].address'],
    ['zone', v1({ ips: [{ address: 'fe80::1%eth0/64' }] }), 'ips[0].address'],
    ['two ::', v1({ ips: [{ address: '1::2::3/64' }] }), 'ips[0].address'],
    ['v6 prefix too long', v1({ ips: [{ address: '2001:db8::1/129' }] }), 'ips[0].address'],
    ['two slashes', v1({ ips: [{ address: '10.0.0.1/8/8' }] }), 'ips[0].address'],
    ['name, not address', v1({ ips: [{ address: 'localhost/8' }] }), 'ips[0].address'],
    ['missing address', v1({ ips: [{ gateway: '10.0.0.1' }] }), 'ips[0].address: missing (expected string)'],
    ['bad gateway', v1({ ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1/24' }] }), 'ips[0].gateway: expected an IP address, received "10.0.0.1/24"'],
    ['index out of range', v1({ ips: [{ address: '10.0.0.2/24', interface: 2 }] }), 'ips[0].interface: index 2 is out of range (2 interfaces)'],
    ['index past the only interface', { cniVersion: '1.0.0', interfaces: [{ name: 'a' }], ips: [{ address: '10.0.0.2/24', interface: 1 }] }, 'ips[0].interface: index 1 is out of range (1 interface)'],
    ['index in an IPAM result', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', interface: 0 }] }, 'ips[0].interface: index 0 is out of range (0 interfaces)'],
    ['negative index', v1({ ips: [{ address: '10.0.0.2/24', interface: -1 }] }), 'ips[0].interface: must be >= 0, received -1'],
    ['fractional index', v1({ ips: [{ address: '10.0.0.2/24', interface: 0.5 }] }), 'ips[0].interface: expected int, received number'],
    ['interface without name', v1({ interfaces: [{ mac: 'aa:bb:cc:dd:ee:ff' }] }), 'interfaces[0].name: missing (expected string)'],
    ['string mtu', v1({ interfaces: [{ name: 'e', mtu: '1500' }] }), 'interfaces[0].mtu: expected number, received string'],
    ['route without dst', v1({ routes: [{ dst: '0.0.0.0/0' }, { gw: '10.0.0.1' }] }), 'routes[1].dst: missing (expected string)'],
    ['route dst without prefix', v1({ routes: [{ dst: 'default' }] }), 'routes[0].dst: expected an IP address with prefix length (CIDR), received "default"'],
    ['negative table', v1({ routes: [{ dst: '0.0.0.0/0', table: -1 }] }), 'routes[0].table: must be >= 0'],
    ['nameservers not a list', v1({ dns: { nameservers: '10.0.0.1' } }), 'dns.nameservers: expected array, received string'],
    ['interfaces not a list', v1({ interfaces: { name: 'e' } }), 'interfaces: expected array, received object'],
    ['0.x version value', { cniVersion: '0.4.0', ips: [{ version: '5', address: '10.0.0.2/24' }] }, 'ips[0].version: expected one of "4", "6", received "5"'],
    ['0.x version mismatch', { cniVersion: '0.3.1', ips: [{ version: '4', address: '2001:db8::2/64' }] }, 'ips[0].version: "4" does not match address 2001:db8::2/64'],
  ]
  for (const [name, input, msg] of rows) t.throws(() => parseResult(input), { name: 'CniError', code: 6, message: msg }, name)
  t.throws(() => parseResult('[', 'IPAM result from host-local'), { code: 6, message: /^failed to parse IPAM result from host-local: / })
  t.throws(() => parseResult(new TextEncoder().encode('{"cniVersion":"1.0.0","ips":[{"address":"x"}]}')), { code: 6, message: 'ips[0].address' })
})

t.test('details list every issue, one per line', async (t) => {
  const err = t.throws(() => parseResult({ cniVersion: '1.0.0', ips: [{ address: 'x' }], routes: [{ dst: 'y', mtu: -1 }] })) as CniError
  t.equal(err.message, 'failed to decode result: ips[0].address: expected an IP address with prefix length (CIDR), received "x"')
  t.equal(err.details, [
    'ips[0].address: expected an IP address with prefix length (CIDR), received "x"',
    'routes[0].dst: expected an IP address with prefix length (CIDR), received "y"',
    'routes[0].mtu: must be >= 0, received -1',
  ].join('\n'))
})

t.test('parsePrevResult: version from the config, same format family', async (t) => {
  t.equal(parsePrevResult({ ips: [{ address: '10.0.0.2/24' }] }, '1.0.0').cniVersion, '1.0.0')
  t.equal(parsePrevResult({ cniVersion: '1.0.0' }, '1.1.0').cniVersion, '1.0.0')
  t.equal(parsePrevResult({ cniVersion: '0.3.0' }, '0.4.0').cniVersion, '0.3.0')
  t.equal(parsePrevResult({ cniVersion: '' }, '0.4.0').cniVersion, '0.4.0')
  t.throws(() => parsePrevResult({ cniVersion: '0.4.0' }, '1.0.0'), { code: 1, message: 'prevResult is "0.4.0" but config is "1.0.0"; a 1.x config needs a 1.0.0 or 1.1.0 result' })
  t.throws(() => parsePrevResult({ cniVersion: '1.1.0' }, '0.3.1'), { code: 1, message: 'a 0.x config needs a 0.3.0, 0.3.1 or 0.4.0 result' })
  t.throws(() => parsePrevResult({ cniVersion: '0.2.0' }, '0.3.1'), { code: 1, message: 'prevResult is "0.2.0"' })
  t.throws(() => parsePrevResult('{}', '1.0.0'), { code: 6, message: 'failed to decode prevResult: expected object, received string' })
  t.throws(() => parsePrevResult({ ips: [{ address: '10.0.0.2' }] }, '1.0.0'), { code: 6, message: 'failed to decode prevResult: ips[0].address' })
})
