import t from 'tap'
import type { CniError } from '../../../../pkg/errors/cni-error.js'
import * as z from 'zod/mini'
import {
  NetConfSchema,
  parseConflist,
  parseJson,
  parseNetConf,
  parseWith,
  validAttachments,
  type NetConf,
} from '../../../../pkg/cni/schema.js'

const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.1.0', name: 'dbnet', type: 'bridge', ...extra })

t.test('parseJson: code 6 saying what and where', async (t) => {
  t.same(parseJson('{"a":1}', 'x'), { a: 1 })
  t.same(parseJson(new TextEncoder().encode('[1]'), 'x'), [1])
  t.throws(() => parseJson('{"a":', 'network configuration on stdin'), { name: 'CniError', code: 6, message: /^failed to parse network configuration on stdin: .*JSON/ })
  t.throws(() => parseJson('{"a" 1}', 'x'), { code: 6, message: /position 5/ })
  t.throws(() => parseJson('', 'network configuration on stdin'), { code: 6, message: 'failed to parse network configuration on stdin: empty input' })
  t.throws(() => parseJson(new Uint8Array(), 'x'), { code: 6, message: 'empty input' })
})

t.test('parseWith: code 7 naming the first bad key; details has every issue', async (t) => {
  const S = z.object({ mtu: z.optional(z.number()), ipam: z.object({ ranges: z.array(z.array(z.object({ subnet: z.string() }))) }) })
  t.same(parseWith(S, { ipam: { ranges: [] } }, 'network configuration'), { ipam: { ranges: [] } })
  const err = t.throws(() => parseWith(S, { mtu: '1500', ipam: { ranges: [[{ subnet: '10.0.0.0/8' }, {}]] } }, 'network configuration')) as CniError
  t.equal(err.code, 7)
  t.equal(err.message, 'invalid network configuration: mtu: expected number, received string')
  t.equal(err.details, 'mtu: expected number, received string\nipam.ranges[0][1].subnet: missing (expected string)')
  t.throws(() => parseWith(S, [], 'bridge configuration'), { code: 7, message: 'invalid bridge configuration: expected object, received array' })
  const Strict = z.strictObject({ a: z.string() })
  t.throws(() => parseWith(Strict, { a: 'x', b: 1, c: 2 }, 'conflist'), { code: 7, message: 'invalid conflist: unknown keys "b", "c"' })
  const Range = z.object({ vni: z.int().check(z.minimum(1), z.maximum(16777215)) })
  t.throws(() => parseWith(Range, { vni: 16777216 }, 'vxlan configuration'), { code: 7, message: 'vni: must be <= 16777215, received 16777216' })
  const Fmt = z.object({ subnet: z.string().check(z.cidrv4()), tags: z.optional(z.array(z.string()).check(z.maxLength(1))), on: z.optional(z.union([z.boolean(), z.number()])) })
  t.throws(() => parseWith(Fmt, { subnet: '10.0.0.0/33' }, 'c'), { code: 7, message: 'invalid c: subnet: expected cidrv4 format, received "10.0.0.0/33"' })
  t.throws(() => parseWith(Fmt, { subnet: '10.0.0.0/8', tags: ['a', 'b'] }, 'c'), { code: 7, message: 'tags: must have at most 1 item, received array' })
  t.throws(() => parseWith(Fmt, { subnet: '10.0.0.0/8', on: 'yes' }, 'c'), { code: 7, message: 'on: expected boolean or number, received string' })
  const Long = z.object({ s: z.string().check(z.maxLength(3)) })
  t.throws(() => parseWith(Long, { s: 'x'.repeat(100) }, 'c'), { code: 7, message: `s: must have at most 3 characters, received "${'x'.repeat(57)}..."` })
})

t.test('parseNetConf: a valid config; unknown keys pass through', async (t) => {
  const c = parseNetConf(conf({ bridge: 'cni0', keyA: ['x'], ipam: { type: 'host-local', subnet: '10.1.0.0/16' }, dns: { nameservers: ['10.1.0.1'] } }))
  t.same(c, { cniVersion: '1.1.0', name: 'dbnet', type: 'bridge', bridge: 'cni0', keyA: ['x'], ipam: { type: 'host-local', subnet: '10.1.0.0/16' }, dns: { nameservers: ['10.1.0.1'] } })
  t.notOk('prevResult' in c)
  for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) t.equal(parseNetConf(conf({ cniVersion: v })).cniVersion, v)
  t.equal(parseNetConf(new TextEncoder().encode(conf())).name, 'dbnet')
  const rc = parseNetConf(conf({
    runtimeConfig: {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      ips: ['10.1.0.9/16'], mac: 'c2:11:22:33:44:55', bandwidth: { ingressRate: 2048, egressBurst: 1600 },
      ipRanges: [[{ subnet: '10.1.2.0/24', gateway: '10.1.2.254' }]], dns: { servers: ['8.8.8.8'], searches: ['corp'] },
      aliases: ['db'], deviceID: '0000:04:00.5', futureCapability: { x: 1 },
    },
    capabilities: { portMappings: true },
    args: { cni: { labels: [{ key: 'app', value: 'db' }] } },
  }))
  t.equal(rc.runtimeConfig?.portMappings?.[0]?.hostPort, 8080)
  t.same(rc.runtimeConfig?.['futureCapability'], { x: 1 })
  t.same(rc.args, { cni: { labels: [{ key: 'app', value: 'db' }] } })
  // plugin config.ts files extend the envelope
  const Bridge = z.extend(NetConfSchema, { mtu: z.optional(z.int().check(z.minimum(68), z.maximum(65535))) })
  t.throws(() => parseWith(Bridge, parseNetConf(conf({ mtu: '1500' })), 'network configuration'), { code: 7, message: 'invalid network configuration: mtu: expected number, received string' })
  const bridge = parseWith(Bridge, parseNetConf(conf({ mtu: 1400, ipam: { type: 'host-local' } })), 'network configuration')
  const typed: { mtu?: number | undefined; ipam?: { type: string } | undefined; name: string } = bridge // inference keeps the types
  t.equal(typed.mtu, 1400)
})

t.test('parseNetConf: no type is fine (skel never reads it; host-local is run with only its ipam section)', async (t) => {
  const c = parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', ipam: { type: 'host-local' } }))
  t.equal(c.type, undefined)
  t.equal(c.ipam?.type, 'host-local')
})

t.test('parseNetConf: errors in the order cni checks them', async (t) => {
  const rows: [string, string, number, string][] = [
    ['bad JSON', '{"cniVersion":', 6, 'failed to parse network configuration on stdin: '],
    ['not an object', '[]', 6, 'failed to decode network configuration: expected object, received array'],
    ['null', 'null', 6, 'expected object, received null'],
    ['missing name', JSON.stringify({ cniVersion: '9.9.9', type: 'bridge' }), 7, 'invalid network configuration: missing network name'],
    ['empty name', conf({ name: '' }), 7, 'missing network name'],
    ['bad name', conf({ name: 'my net' }), 7, 'invalid characters found in network name "my net"'],
    ['name not a string', conf({ name: 5 }), 7, 'invalid network configuration: name: expected string, received number'],
    ['no cniVersion', JSON.stringify({ name: 'n', type: 'bridge' }), 1, 'incompatible CNI versions: config has no cniVersion (that means 0.1.0), plugin supports 0.3.0'],
    ['unsupported cniVersion', conf({ cniVersion: '9.9.9' }), 1, 'incompatible CNI versions: config is "9.9.9", plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0'],
    ['0.2.0', conf({ cniVersion: '0.2.0' }), 1, 'config is "0.2.0"'],
    ['cniVersion not a string', conf({ cniVersion: 1 }), 7, 'cniVersion: expected string, received number'],
    ['type is a path', conf({ type: '../bridge' }), 7, 'type: must be a plugin name, not a path, received "../bridge"'],
    ['ipam without type', conf({ ipam: { subnet: '10.0.0.0/8' } }), 7, 'ipam.type: missing (expected string)'],
    ['ipam type is a path', conf({ ipam: { type: '/opt/evil' } }), 7, 'ipam.type: must be a plugin name, not a path'],
    ['ipam type empty', conf({ ipam: { type: '' } }), 7, 'ipam.type: must not be empty, received ""'],
    ['dns nameservers', conf({ dns: { nameservers: '8.8.8.8' } }), 7, 'dns.nameservers: expected array, received string'],
    ['capabilities', conf({ capabilities: { portMappings: 'yes' } }), 7, 'capabilities.portMappings: expected boolean, received string'],
    ['port range', conf({ runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } }), 7, 'runtimeConfig.portMappings[0].hostPort: must be <= 65535, received 70000'],
    ['args', conf({ args: [] }), 7, 'args: expected record, received array'],
    ['prevResult bad field', conf({ prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2' }] } }), 6, 'failed to decode prevResult: ips[0].address: expected an IP address with prefix length (CIDR), received "10.0.0.2"'],
    ['prevResult not an object', conf({ prevResult: 'x' }), 6, 'failed to decode prevResult: expected object, received string'],
    ['prevResult other family', conf({ prevResult: { cniVersion: '0.4.0' } }), 1, 'prevResult is "0.4.0" but config is "1.1.0"'],
    ['prevResult unsupported', conf({ cniVersion: '0.4.0', prevResult: { cniVersion: '0.2.0', ip4: {} } }), 1, 'prevResult is "0.2.0"'],
  ]
  for (const [name, input, code, msg] of rows) t.throws(() => parseNetConf(input), { name: 'CniError', code, message: msg }, name)
  // The reference's documented layer-2 spelling: an empty ipam is no ipam, under any key spelling.
  t.notOk('ipam' in parseNetConf(conf({ ipam: {} })), 'ipam: {} is no IPAM')
  t.notOk('ipam' in parseNetConf(conf({ IPAM: {} })), 'IPAM: {} too')
  t.throws(() => parseNetConf('{', { source: '/etc/cni/net.d/10-x.conf' }), { code: 6, message: 'failed to parse network configuration on /etc/cni/net.d/10-x.conf: ' })
  t.throws(() => parseNetConf(conf(), { supported: ['0.4.0', '1.0.0'] }), { code: 1, message: 'plugin supports 0.4.0, 1.0.0' })
  // the plugin's own list also bounds the prevResult's version
  t.throws(() => parseNetConf(conf({ prevResult: { cniVersion: '1.0.0' } }), { supported: ['1.1.0'] }), { code: 1, message: 'prevResult is "1.0.0", plugin supports 1.1.0' })
})

t.test('parseNetConf: prevResult becomes the canonical result', async (t) => {
  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/a' }], ips: [{ address: '2001:DB8::2/64', interface: 0 }] }
  const c = parseNetConf(conf({ prevResult: prev }))
  t.strictSame(c.prevResult, { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/a' }], ips: [{ address: '2001:db8::2/64', interface: 0 }] })
  // without a cniVersion the prevResult is the config's version (cni ParsePrevResult)
  t.equal(parseNetConf(conf({ cniVersion: '0.4.0', prevResult: { ips: [{ version: '4', address: '10.0.0.2/24' }] } })).prevResult?.cniVersion, '0.4.0')
  t.equal(parseNetConf(conf({ cniVersion: '0.4.0', prevResult: { cniVersion: '0.3.1' } })).prevResult?.cniVersion, '0.3.1')
  const n = parseNetConf(conf({ prevResult: null }))
  t.notOk('prevResult' in n, 'null prevResult is no prevResult')
})

t.test('validAttachments: GC input', async (t) => {
  const base = parseNetConf(conf())
  const withKey = (extra: Record<string, unknown>): NetConf => parseNetConf(conf(extra))
  t.equal(validAttachments(base), undefined, 'missing: do nothing')
  t.equal(validAttachments(withKey({ 'cni.dev/valid-attachments': null })), undefined, 'null counts as missing')
  t.strictSame(validAttachments(withKey({ 'cni.dev/valid-attachments': [] })), [], '[]: nothing is valid')
  const list = [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'net1', extra: true }]
  t.strictSame(validAttachments(withKey({ 'cni.dev/valid-attachments': list })), [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'net1' }])
  t.strictSame(validAttachments(withKey({ 'cni.dev/attachments': [{ containerID: 'old', ifname: 'eth0' }] })), [{ containerID: 'old', ifname: 'eth0' }], 'the older key')
  t.strictSame(validAttachments(withKey({ 'cni.dev/valid-attachments': [{ containerID: 'new', ifname: 'eth0' }], 'cni.dev/attachments': [] })), [{ containerID: 'new', ifname: 'eth0' }], 'the spec key wins')
  t.throws(() => validAttachments(withKey({ 'cni.dev/valid-attachments': [{ containerID: 'c1' }] })), { code: 7, message: 'invalid network configuration: ["cni.dev/valid-attachments"][0].ifname: missing (expected string)' })
  t.throws(() => validAttachments(withKey({ 'cni.dev/attachments': {} })), { code: 7, message: '["cni.dev/attachments"]: expected array, received object' })
})

const list = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.1.0', name: 'dbnet', plugins: [{ type: 'bridge' }], ...extra })

t.test('parseConflist: the SPEC.md example', async (t) => {
  const spec = {
    cniVersion: '1.1.0',
    cniVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    name: 'dbnet',
    plugins: [
      { type: 'bridge', bridge: 'cni0', keyA: ['some more', 'plugin specific', 'configuration'], ipam: { type: 'host-local', subnet: '10.1.0.0/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] }, dns: { nameservers: ['10.1.0.1'] } },
      { type: 'tuning', capabilities: { mac: true }, sysctl: { 'net.core.somaxconn': '500' } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }
  const c = parseConflist(JSON.stringify(spec))
  t.strictSame(c, { cniVersion: '1.1.0', name: 'dbnet', disableCheck: false, disableGC: false, loadOnlyInlinedPlugins: false, plugins: spec.plugins, cniVersions: spec.cniVersions })
})

t.test('parseConflist: version selection (libcni)', async (t) => {
  const rows: [Record<string, unknown>, string][] = [
    [{ cniVersion: '0.3.1', cniVersions: ['0.4.0', '1.0.0', '2.0.0'] }, '1.0.0'],
    [{ cniVersion: undefined, cniVersions: ['1.0.0', '0.4.0'] }, '1.0.0'],
    [{ cniVersion: '1.0.0', cniVersions: ['1.2.0', '2.0.0'] }, '1.0.0'],
    [{ cniVersion: '1.1.0', cniVersions: [] }, '1.1.0'],
    [{ cniVersion: '9.9.9' }, '9.9.9'], // without cniVersions, cniVersion is taken as is
    [{ cniVersion: '2.0.0', cniVersions: ['0.4.0'] }, '0.4.0'],
  ]
  for (const [extra, want] of rows) t.equal(parseConflist(list(extra)).cniVersion, want, JSON.stringify(extra))
  t.throws(() => parseConflist(list({ cniVersion: undefined })), { code: 7, message: 'invalid network configuration list: cniVersion: missing' })
  t.throws(() => parseConflist(list({ cniVersion: '', cniVersions: ['3.0.0'] })), { code: 7, message: 'cniVersion: missing' })
  t.throws(() => parseConflist(list({ cniVersions: ['1.0.0', 'latest'] })), { code: 7, message: 'cniVersions[1]: invalid CNI version "latest"' })
  t.throws(() => parseConflist(list({ cniVersion: 'x', cniVersions: ['1.0.0'] })), { code: 7, message: 'cniVersion: invalid CNI version "x"' })
  t.throws(() => parseConflist(list({ cniVersions: '1.0.0' })), { code: 7, message: 'cniVersions: expected array, received string' })
})

t.test('parseConflist: flags, plugins, name', async (t) => {
  const c = parseConflist(list({ disableCheck: 'True', disableGC: true, loadOnlyInlinedPlugins: 'false' }))
  t.same([c.disableCheck, c.disableGC, c.loadOnlyInlinedPlugins], [true, true, false])
  t.strictSame(parseConflist(list({ plugins: undefined })).plugins, [], 'plugins may come from <dir>/<name>/*.conf')
  const rows: [string | Uint8Array, number, string][] = [
    ['{', 6, 'failed to parse network configuration list in conflist: '],
    ['"x"', 6, 'failed to decode network configuration list: expected object, received string'],
    [list({ disableCheck: 'yes' }), 7, 'disableCheck: expected true or false, received "yes"'],
    [list({ disableGC: 1 }), 7, 'disableGC: expected boolean or string, received number'],
    [list({ plugins: undefined, loadOnlyInlinedPlugins: true }), 7, 'plugins: missing, and loadOnlyInlinedPlugins is true'],
    [list({ plugins: [] }), 7, 'invalid network configuration list: plugins: no plugins in list'],
    [list({ plugins: {} }), 7, 'plugins: expected array, received object'],
    [list({ plugins: [{ type: 'bridge' }, { bridge: 'x' }] }), 7, 'plugins[1].type: missing (expected string)'],
    [list({ plugins: [{ type: 'a\\b' }] }), 7, 'plugins[0].type: must be a plugin name, not a path'],
    [list({ plugins: [{ type: 'x', capabilities: { mac: 1 } }] }), 7, 'plugins[0].capabilities.mac: expected boolean, received number'],
    [list({ name: undefined }), 7, 'name: missing (expected string)'],
    [list({ name: '-dbnet' }), 7, 'invalid characters found in network name "-dbnet"'],
  ]
  for (const [input, code, msg] of rows) t.throws(() => parseConflist(input), { name: 'CniError', code, message: msg }, msg)
  t.throws(() => parseConflist('{', '/etc/cni/net.d/10-db.conflist'), { code: 6, message: 'in /etc/cni/net.d/10-db.conflist: ' })
})
