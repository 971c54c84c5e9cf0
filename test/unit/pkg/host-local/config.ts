import t from 'tap'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { formatIp } from '../../../../pkg/ip/cidr.js'
import { DEFAULT_DATA_DIR, parseHostLocalConfig, parseStoreLocation } from '../../../../pkg/host-local/config.js'
import type { Range } from '../../../../pkg/host-local/range-set.js'

const conf = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'bridge', ipam: { type: 'host-local', ...ipam }, ...extra }))

const show = (r: Range) => ({
  subnet: `${formatIp(r.subnet.bytes)}/${r.subnet.prefixLen}`,
  start: formatIp(r.rangeStart.bytes),
  end: formatIp(r.rangeEnd.bytes),
  gw: formatIp(r.gateway.bytes),
})

t.test('defaults are the reference\'s', async (t) => {
  const c = parseHostLocalConfig(conf({ subnet: '10.1.2.0/24' }))
  t.equal(c.dataDir, DEFAULT_DATA_DIR)
  t.equal(c.name, 'net1')
  t.same(c.rangeSets.map((s) => s.map(show)), [[{ subnet: '10.1.2.0/24', start: '10.1.2.1', end: '10.1.2.254', gw: '10.1.2.1' }]])
  t.same(c.routes, [])
  t.same(c.requested, [])
  t.equal(c.resolvConf, undefined)

  const v6 = parseHostLocalConfig(conf({ ranges: [[{ subnet: 'fd00:1::/120' }]] }))
  // IPv6 has no broadcast: the range runs to the subnet's last address.
  t.same(v6.rangeSets.map((s) => s.map(show)), [[{ subnet: 'fd00:1::/120', start: 'fd00:1::1', end: 'fd00:1::ff', gw: 'fd00:1::1' }]])

  const small = parseHostLocalConfig(conf({ subnet: '10.9.0.0/30' }))
  t.same(small.rangeSets[0]?.map(show), [{ subnet: '10.9.0.0/30', start: '10.9.0.1', end: '10.9.0.2', gw: '10.9.0.1' }])
})

t.test('explicit values, several sets, routes, dataDir, resolvConf', async (t) => {
  const c = parseHostLocalConfig(
    conf({
      ranges: [
        [
          { subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.254' },
          { subnet: '10.2.0.0/24' },
        ],
        [{ subnet: 'FD00:0:0:0::/64', gateway: 'fd00::fe' }],
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.9.7/24', gw: '10.1.0.254', priority: 5 }],
      dataDir: '/run/berth/ipam/',
      resolvConf: '/etc/resolv.conf',
    }),
  )
  t.same(c.rangeSets.map((s) => s.map(show)), [
    [
      { subnet: '10.1.0.0/24', start: '10.1.0.10', end: '10.1.0.20', gw: '10.1.0.254' },
      { subnet: '10.2.0.0/24', start: '10.2.0.1', end: '10.2.0.254', gw: '10.2.0.1' },
    ],
    [{ subnet: 'fd00::/64', start: 'fd00::1', end: 'fd00::ffff:ffff:ffff:ffff', gw: 'fd00::fe' }],
  ])
  t.same(c.routes, [{ dst: '0.0.0.0/0' }, { dst: '192.168.9.0/24', gw: '10.1.0.254', priority: 5 }])
  t.equal(c.dataDir, '/run/berth/ipam')
  t.equal(c.resolvConf, '/etc/resolv.conf')
})

t.test('legacy single range comes before ranges; runtime ipRanges before both', async (t) => {
  const c = parseHostLocalConfig(
    conf({ subnet: '10.1.0.0/24', rangeStart: '10.1.0.5', ranges: [[{ subnet: 'fd00::/64' }]] }, { runtimeConfig: { ipRanges: [[{ subnet: '10.3.0.0/16' }]] } }),
  )
  t.same(c.rangeSets.map((s) => show(s[0] as Range).subnet), ['10.3.0.0/16', '10.1.0.0/24', 'fd00::/64'])
  t.equal(formatIp((c.rangeSets[1]?.[0] as Range).rangeStart.bytes), '10.1.0.5')
})

t.test('requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips', async (t) => {
  const c = parseHostLocalConfig(
    conf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] }, { args: { cni: { ips: ['fd00::9'] } }, runtimeConfig: { ips: ['10.1.0.8/24'] } }),
    new Map([['IP', '10.1.0.7']]),
  )
  t.same(c.requested.map((r) => [formatIp(r.ip.bytes), r.from]), [
    ['10.1.0.7', 'CNI_ARGS IP'],
    ['fd00::9', 'args.cni.ips[0]'],
    ['10.1.0.8', 'runtimeConfig.ips[0]'],
  ])
  // IPv4-mapped IPv6 is IPv4, as Go reads it.
  t.equal(formatIp((parseHostLocalConfig(conf({ subnet: '10.1.0.0/24' }), new Map([['IP', '::ffff:10.1.0.9']])).requested[0]?.ip.bytes) ?? new Uint8Array()), '10.1.0.9')
  t.throws(() => parseHostLocalConfig(conf({ subnet: '10.1.0.0/24' }), new Map([['FOO', 'x']])), { code: 4, message: /unknown args "FOO=x"/ })
  t.same(parseHostLocalConfig(conf({ subnet: '10.1.0.0/24' }), new Map([['FOO', 'x'], ['IgnoreUnknown', '1']])).requested, [])
  t.throws(() => parseHostLocalConfig(conf({ subnet: '10.1.0.0/24' }), new Map([['IP', 'nope']])), { code: 4, message: 'invalid CNI_ARGS IP: "nope" is not an IP address' })
})

t.test('every bad input is code 7 naming the key', async (t) => {
  const rows: [string, Record<string, unknown>, RegExp | string, Record<string, unknown>?][] = [
    ['no ranges', {}, 'invalid ipam: no IP ranges specified (set ipam.ranges or ipam.subnet)'],
    ['range keys without subnet', { rangeStart: '10.0.0.1' }, /^invalid ipam\.subnet: missing/],
    ['empty range set', { ranges: [[]] }, 'invalid ipam.ranges[0]: empty range set'],
    ['subnet not a CIDR', { subnet: '10.1.0.0' }, 'invalid ipam.subnet: "10.1.0.0" is not a CIDR (address/prefix length)'],
    ['subnet garbage', { ranges: [[{ subnet: 'banana/24' }]] }, /^invalid ipam\.ranges\[0\]\[0\]\.subnet: "banana\/24"/],
    ['prefix too long', { subnet: '10.1.0.0/33' }, /^invalid ipam\.subnet: /],
    ['host bits set', { subnet: '10.1.0.5/24' }, 'invalid ipam.subnet: 10.1.0.5/24 has host bits set; for a prefix of length 24 the network address is 10.1.0.0'],
    ['/31', { subnet: '10.1.0.0/31' }, 'invalid ipam.subnet: network 10.1.0.0/31 too small to allocate from'],
    ['/32', { subnet: '10.1.0.1/32' }, /too small to allocate from/],
    ['/127', { ranges: [[{ subnet: 'fd00::/127' }]] }, /ranges\[0\]\[0\]\.subnet: network fd00::\/127 too small/],
    ['/128', { ranges: [[{ subnet: 'fd00::1/128' }]] }, /too small/],
    ['gateway outside', { subnet: '10.1.0.0/24', gateway: '10.2.0.1' }, 'invalid ipam.gateway: 10.2.0.1 is not in subnet 10.1.0.0/24'],
    ['gateway other family', { subnet: '10.1.0.0/24', gateway: 'fd00::1' }, /ipam\.gateway: fd00::1 is not in subnet/],
    ['gateway garbage', { subnet: '10.1.0.0/24', gateway: 'x' }, 'invalid ipam.gateway: "x" is not an IP address'],
    ['rangeStart outside', { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.1.1' }]] }, 'invalid ipam.ranges[0][0].rangeStart: 10.1.1.1 is not in subnet 10.1.0.0/24'],
    ['rangeEnd outside', { subnet: '10.1.0.0/24', rangeEnd: '10.1.1.1' }, /ipam\.rangeEnd: 10\.1\.1\.1 is not in subnet/],
    ['start after end', { subnet: '10.1.0.0/24', rangeStart: '10.1.0.50', rangeEnd: '10.1.0.40' }, 'invalid ipam.rangeStart: 10.1.0.50 is after rangeEnd 10.1.0.40'],
    ['mixed families', { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }, 'invalid ipam.ranges[0][1].subnet: mixed address families in one range set'],
    ['overlap in a set', { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/16' }]] }, /^invalid ipam\.ranges\[0\]\[1\]: range 10\.1\.0\.1-10\.1\.255\.254 overlaps range 10\.1\.0\.1-10\.1\.0\.254/],
    ['overlap across sets', { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.200' }]] }, /^invalid ipam\.ranges\[1\]: range 10\.1\.0\.200-10\.1\.0\.254 overlaps range 10\.1\.0\.1-10\.1\.0\.254 of ipam\.ranges\[0\]/],
    ['legacy overlaps ranges', { subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.1.0.0/25' }]] }, /^invalid ipam\.ranges\[0\]: .* of ipam$/],
    ['route dst', { subnet: '10.1.0.0/24', routes: [{ dst: '0.0.0.0' }] }, 'invalid ipam.routes[0].dst: "0.0.0.0" is not a CIDR (address/prefix length)'],
    ['route gw', { subnet: '10.1.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'zz' }] }, 'invalid ipam.routes[0].gw: "zz" is not an IP address'],
    ['ranges wrong type', { ranges: [{ subnet: '10.1.0.0/24' }] }, /^invalid ipam: ranges\[0\]: expected array/],
    ['relative dataDir', { subnet: '10.1.0.0/24', dataDir: 'var/lib' }, 'invalid ipam.dataDir: "var/lib" must be an absolute path'],
    ['dataDir traversal', { subnet: '10.1.0.0/24', dataDir: '/var/lib/cni/../../etc' }, 'invalid ipam.dataDir: "/var/lib/cni/../../etc" must not contain "." or ".." components'],
    ['requested outside', { subnet: '10.1.0.0/24' }, /^invalid runtimeConfig\.ips\[0\]: requested IP 10\.9\.0\.1 is not in any range: 10\.1\.0\.1-10\.1\.0\.254$/, { runtimeConfig: { ips: ['10.9.0.1'] } }],
    ['requested garbage', { subnet: '10.1.0.0/24' }, 'invalid args.cni.ips[0]: "10.1.0" is not an IP address', { args: { cni: { ips: ['10.1.0'] } } }],
  ]
  for (const [name, ipam, msg, extra] of rows) {
    t.throws(() => parseHostLocalConfig(conf(ipam, extra)), { name: 'CniError', code: 7, message: msg }, name)
  }
  t.throws(() => parseHostLocalConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridge' }))), { code: 7, message: "invalid ipam: missing 'ipam' key" })
})

t.test('parseStoreLocation reads only name and dataDir', async (t) => {
  t.same(parseStoreLocation(conf({ subnet: 'broken', dataDir: '/x/y' })), { name: 'net1', dataDir: '/x/y' })
  t.equal(parseStoreLocation(conf({ dataDir: '//' })).dataDir, '/')
  t.equal(parseStoreLocation(conf({ dataDir: '' })).dataDir, DEFAULT_DATA_DIR)
  t.throws(() => parseStoreLocation(conf({ dataDir: '/x/../y' })), { code: 7 })
})

t.test("Go's key matching (the reference's IPAMConfig is a Go struct)", async (t) => {
  const raw = (o: Record<string, unknown>) => parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'bridge', ...o }))
  // containerd's ipRanges capability and any-case ipam keys
  const c = parseHostLocalConfig(raw({
    IPAM: { Type: 'host-local', DATADIR: '/x', Ranges: [[{ SUBNET: '10.1.0.0/24', RangeStart: '10.1.0.40' }]], Routes: [{ Dst: '0.0.0.0/0', GW: '10.1.0.1' }] },
    RuntimeConfig: { ipRanges: [[{ Subnet: '10.10.0.0/24', RangeStart: '10.10.0.77', Gateway: '10.10.0.254' }]], IPs: ['10.10.0.78'] },
    Args: { CNI: { IPS: ['10.1.0.41'] } },
  }), new Map())
  t.equal(c.dataDir, '/x')
  t.same(c.rangeSets.map((s) => s.map(show)), [
    [{ subnet: '10.10.0.0/24', start: '10.10.0.77', end: '10.10.0.254', gw: '10.10.0.254' }],
    [{ subnet: '10.1.0.0/24', start: '10.1.0.40', end: '10.1.0.254', gw: '10.1.0.1' }],
  ])
  t.same(c.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }])
  t.same(c.requested.map((r) => [formatIp(r.ip.bytes), r.from]), [['10.1.0.41', 'Args.CNI.IPS[0]'], ['10.10.0.78', 'RuntimeConfig.IPs[0]']])
  t.equal(parseHostLocalConfig(conf({ [`\u017fubnet`]: '10.2.0.0/24' })).rangeSets[0]?.[0]?.subnet.bytes[1], 2, 'long s folds to s (reference: allocated from it)')
  // Sent twice (reference host-local): ipam then IPAM merge; ranges then Ranges merge element-wise; the last
  // scalar wins; routes (cni's Route has its own UnmarshalJSON) are replaced.
  const twice = parseHostLocalConfig(raw({
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.4.0.0/24', rangeStart: '10.4.0.50' }]], subnet: '10.5.0.0/24', routes: [{ dst: '10.50.0.0/16', gw: '10.5.0.9' }] },
    IPAM: { dataDir: '/y', Ranges: [[{ subnet: '10.4.0.0/24' }]], SUBNET: '10.6.0.0/24', Routes: [{ dst: '10.60.0.0/16' }] },
  }))
  t.equal(twice.dataDir, '/y')
  t.same(twice.rangeSets.map((s) => s.map((r) => `${show(r).subnet} from ${show(r).start}`)), [['10.6.0.0/24 from 10.6.0.1'], ['10.4.0.0/24 from 10.4.0.50']])
  t.same(twice.routes, [{ dst: '10.60.0.0/16' }])
  // messages name keys as sent
  const rows: [Record<string, unknown>, string][] = [
    [{ IPAM: { type: 'host-local', Ranges: [[{ Subnet: '10.4.0.1/24' }]] } }, 'invalid IPAM.Ranges[0][0].Subnet: 10.4.0.1/24 has host bits set; for a prefix of length 24 the network address is 10.4.0.0'],
    [{ ipam: { type: 'host-local', SUBNET: '10.1.0.0/24', Gateway: '10.2.0.1' } }, 'invalid ipam.Gateway: 10.2.0.1 is not in subnet 10.1.0.0/24'],
    [{ ipam: { type: 'host-local', RangeStart: '10.1.0.1' } }, 'invalid ipam.subnet: missing (rangeStart, rangeEnd and gateway need a subnet)'],
    [{ ipam: { type: 'host-local', subnet: '10.1.0.0/24' }, runtimeConfig: { ipRanges: [[{ Subnet: '10.5.0.0/24', RangeStart: '10.6.0.1' }]] } }, 'invalid runtimeConfig.ipRanges[0][0].RangeStart: 10.6.0.1 is not in subnet 10.5.0.0/24'],
    [{ ipam: { type: 'host-local', subnet: '10.1.0.0/24', Routes: [{ Dst: '0.0.0.0' }] } }, 'invalid ipam.Routes[0].Dst: "0.0.0.0" is not a CIDR (address/prefix length)'],
    [{ ipam: { type: 'host-local', subnet: '10.1.0.0/24', DataDir: 'rel' } }, 'invalid ipam.DataDir: "rel" must be an absolute path'],
    [{ ipam: { type: 'host-local', subnet: '10.1.0.0/24', Ranges: 'x' } }, 'invalid ipam: Ranges: expected array, received string'],
  ]
  for (const [o, msg] of rows) t.throws(() => parseHostLocalConfig(raw(o)), { code: 7, message: msg }, msg)
  t.equal(parseStoreLocation(raw({ IPAM: { type: 'host-local', DataDir: '/z', subnet: 'broken' } })).dataDir, '/z')
})
