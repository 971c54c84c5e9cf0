// The macvlan configuration without a kernel: the reference's keys and defaults, Go's key matching,
// the MAC precedence (capability over CNI_ARGS over the `mac` key), and error 7 (4 for CNI_ARGS) naming
// each bad key.
import t from 'tap'
import { parseCniArgs } from '../../../../pkg/cni/args.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { parseMacvlanConfig, type MacvlanConfig } from '../../../../plugins/host/macvlan/config.js'

const netConf = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'mvnet', type: 'macvlan', ...extra }))
const parse = (extra: Record<string, unknown> = {}, cniArgs = '') => parseMacvlanConfig(netConf(extra), parseCniArgs(cniArgs))

t.test('defaults are the reference macvlan defaults', async (t) => {
  const { netConf: _n, ...rest } = parse()
  t.same(rest, {
    master: undefined,
    mode: 'bridge',
    mtu: undefined,
    mac: undefined,
    linkInContainer: false,
    bcQueueLen: undefined,
    layer3: false,
  } satisfies Omit<MacvlanConfig, 'netConf'>)
})

t.test('each key is read with its meaning', async (t) => {
  const rows: [Record<string, unknown>, Partial<MacvlanConfig>][] = [
    [{ master: 'eth1' }, { master: 'eth1' }],
    [{ master: '' }, { master: undefined }],
    [{ mode: '' }, { mode: 'bridge' }],
    [{ mode: 'private' }, { mode: 'private' }],
    [{ mode: 'vepa' }, { mode: 'vepa' }],
    [{ mode: 'passthru' }, { mode: 'passthru' }],
    [{ mtu: 0 }, { mtu: undefined }],
    [{ mtu: 1400 }, { mtu: 1400 }],
    [{ mac: '02:AA:bb:00:00:01' }, { mac: '02:aa:bb:00:00:01' }],
    [{ mac: '02-aa-bb-00-00-01' }, { mac: '02:aa:bb:00:00:01' }],
    [{ linkInContainer: true }, { linkInContainer: true }],
    [{ bcqueuelen: 0 }, { bcQueueLen: undefined }],
    [{ bcqueuelen: 5000 }, { bcQueueLen: 5000 }],
    [{ ipam: { type: 'host-local' } }, { layer3: true }],
  ]
  for (const [extra, want] of rows) t.match(parse(extra), want, JSON.stringify(extra))
})

t.test("keys match as Go's decoder matches them", async (t) => {
  t.match(parse({ Master: 'eth2', MODE: 'vepa', Mtu: 1300, LinkInContainer: true, BCQueueLen: 7, RuntimeConfig: { MAC: '02:00:00:00:00:09' } }), {
    master: 'eth2',
    mode: 'vepa',
    mtu: 1300,
    linkInContainer: true,
    bcQueueLen: 7,
    mac: '02:00:00:00:00:09',
  })
  t.match(parse({ master: 'exact', Master: 'other' }), { master: 'other' }, 'a later spelling of the same field replaces')
})

t.test('MAC: runtimeConfig.mac, else CNI_ARGS MAC, else the mac key', async (t) => {
  const key = { mac: '02:00:00:00:00:01' }
  const cap = { runtimeConfig: { mac: '02:00:00:00:00:03' } }
  t.equal(parse(key).mac, '02:00:00:00:00:01')
  t.equal(parse(key, 'MAC=02:00:00:00:00:02').mac, '02:00:00:00:00:02', 'CNI_ARGS over the key')
  t.equal(parse({ ...key, ...cap }, 'MAC=02:00:00:00:00:02').mac, '02:00:00:00:00:03', 'the capability over both')
  t.equal(parse(key, 'MAC=').mac, '02:00:00:00:00:01', 'an empty MAC= is no MAC')
  t.equal(parse({}, 'IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:00:00:00:00:02').mac, '02:00:00:00:00:02', "podman's CNI_ARGS")
  t.equal(parse({}, 'IP=10.1.0.5').mac, undefined, 'IP (for the IPAM plugin) is known')
})

t.test('every bad key is error 7 naming it; bad CNI_ARGS are 4', async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ master: 'a/b' }, /master: must be an interface name/],
    [{ master: 'a-name-longer-than-15' }, /master/],
    [{ master: 3 }, /master: .*string/],
    [{ mode: 'Bridge' }, /mode: must be one of bridge, private, vepa, passthru/],
    [{ mode: 'source' }, /mode: must be one of/],
    [{ mtu: -1 }, /mtu: must be 0 \(unset\) or between 68 and 65535/],
    [{ mtu: 67 }, /mtu/],
    [{ mtu: 1500.5 }, /mtu/],
    [{ mtu: '1500' }, /mtu/],
    [{ mac: 'zz:00:00:00:00:01' }, /mac: expected a unicast MAC/],
    [{ mac: '03:00:00:00:00:01' }, /mac: expected a unicast MAC/],
    [{ mac: '00:00:00:00:00:00' }, /mac: expected a unicast MAC/],
    [{ linkInContainer: 'yes' }, /linkInContainer/],
    [{ bcqueuelen: -1 }, /bcqueuelen/],
    [{ bcqueuelen: 2 ** 32 }, /bcqueuelen/],
    [{ runtimeConfig: { mac: 'nope' } }, /runtimeConfig\.mac: expected a unicast MAC/],
  ]
  for (const [extra, msg] of bad) {
    t.throws(() => parse(extra), { name: 'CniError', code: 7, message: msg }, JSON.stringify(extra))
  }
  t.throws(() => parse({}, 'MAC=01:00:5e:00:00:01'), { code: 4, message: /CNI_ARGS: MAC "01:00:5e:00:00:01"/ }, 'a multicast MAC in CNI_ARGS')
  t.throws(() => parse({}, 'FOO=1'), { code: 4, message: /unknown args "FOO=1"/ }, 'unknown CNI_ARGS without IgnoreUnknown')
  try {
    parse({ MODE: 'bogus' })
  } catch (e) {
    t.ok(e instanceof CniError && e.message.includes('MODE'), 'the key as the runtime spelled it')
  }
})
