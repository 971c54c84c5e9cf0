import t from 'tap'
import { parseCniArgs } from '../../../../pkg/cni/args.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { collectVlanTrunk, parseBridgeConfig, type BridgeConfig } from '../../../../plugins/bridge/config.js'

const netConf = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'brnet', type: 'bridge', ...extra }))
const parse = (extra: Record<string, unknown> = {}, cniArgs = '', strict = true) => parseBridgeConfig(netConf(extra), parseCniArgs(cniArgs), { strict })

t.test('defaults are the reference bridge defaults', async (t) => {
  const c = parse()
  const { netConf: _n, ...rest } = c
  t.same(rest, {
    bridge: 'cni0',
    isGateway: false,
    isDefaultGateway: false,
    forceAddress: false,
    ipMasq: false,
    ipMasqBackend: 'nftables',
    mtu: undefined,
    hairpinMode: false,
    promiscMode: false,
    vlan: 0,
    preserveDefaultVlan: true,
    vlanTrunk: [],
    macspoofchk: false,
    enabledad: false,
    disableContainerInterface: false,
    portIsolation: false,
    mac: undefined,
    ips: [],
    layer3: false,
  } satisfies Omit<BridgeConfig, 'netConf'>)
})

t.test('each key is read with its meaning', async (t) => {
  const rows: [Record<string, unknown>, Partial<BridgeConfig>][] = [
    [{ bridge: 'br-test' }, { bridge: 'br-test' }],
    [{ bridge: '' }, { bridge: 'cni0' }],
    [{ isGateway: true }, { isGateway: true, isDefaultGateway: false }],
    [{ isDefaultGateway: true }, { isGateway: true, isDefaultGateway: true }],
    [{ forceAddress: true }, { forceAddress: true }],
    [{ ipMasq: true }, { ipMasq: true }],
    [{ ipMasqBackend: 'iptables' }, { ipMasqBackend: 'iptables' }],
    [{ mtu: 1400 }, { mtu: 1400 }],
    [{ mtu: 0 }, { mtu: undefined }],
    [{ hairpinMode: true }, { hairpinMode: true }],
    [{ promiscMode: true }, { promiscMode: true }],
    [{ vlan: 100 }, { vlan: 100 }],
    [{ preserveDefaultVlan: false }, { preserveDefaultVlan: false }],
    [{ vlanTrunk: [{ id: 5 }, { minID: 2, maxID: 4 }, { id: 3 }] }, { vlanTrunk: [2, 3, 4, 5] }],
    [{ macspoofchk: true }, { macspoofchk: true }],
    [{ enabledad: true }, { enabledad: true }],
    [{ disableContainerInterface: true }, { disableContainerInterface: true }],
    [{ portIsolation: true }, { portIsolation: true }],
    [{ ipam: { type: 'host-local' } }, { layer3: true }],
    [{ runtimeConfig: { mac: '02:AA:bb:cc:dd:ee' } }, { mac: '02:aa:bb:cc:dd:ee' }],
    [{ args: { cni: { mac: '02:00:00:00:00:01' } } }, { mac: '02:00:00:00:00:01' }],
    [{ runtimeConfig: { ips: ['10.1.0.5/24', 'fd00::5'] } }, { ips: ['10.1.0.5/24', 'fd00::5'] }],
    [{ someUnknownKey: { nested: [1] }, capabilities: { mac: true } }, {}],
  ]
  for (const [input, want] of rows) t.match(parse(input), want, JSON.stringify(input))
})

t.test('MAC precedence: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC', async (t) => {
  t.equal(parse({}, 'MAC=02:00:00:00:00:0a').mac, '02:00:00:00:00:0a')
  t.equal(parse({ args: { cni: { mac: '02:00:00:00:00:0b' } } }, 'MAC=02:00:00:00:00:0a').mac, '02:00:00:00:00:0b')
  t.equal(parse({ args: { cni: { mac: '02:00:00:00:00:0b' } }, runtimeConfig: { mac: '02:00:00:00:00:0c' } }, 'MAC=02:00:00:00:00:0a').mac, '02:00:00:00:00:0c')
  t.equal(parse({}, 'IP=10.0.0.5;MAC=02:00:00:00:00:0a').mac, '02:00:00:00:00:0a', 'IP is known (the IPAM plugin reads it)')
  t.equal(parse({}, 'FOO=1;IgnoreUnknown=1').mac, undefined)
})

t.test('bad CNI_ARGS are code 4', async (t) => {
  t.throws(() => parse({}, 'MAC=nope'), { code: 4, message: /CNI_ARGS: MAC "nope"/ })
  t.throws(() => parse({}, 'FOO=1'), { code: 4, message: /unknown args "FOO=1"/ })
})

t.test('a wrong type or value is code 7 naming the key', async (t) => {
  const rows: [Record<string, unknown>, RegExp][] = [
    [{ bridge: 42 }, /^invalid network configuration: bridge: expected string/],
    [{ bridge: 'a-name-that-is-far-too-long' }, /^invalid network configuration: bridge: must be an interface name/],
    [{ bridge: 'br/0' }, /bridge: must be an interface name/],
    [{ isGateway: 'yes' }, /isGateway: expected boolean/],
    [{ isDefaultGateway: 1 }, /isDefaultGateway: expected boolean/],
    [{ forceAddress: 'true' }, /forceAddress: expected boolean/],
    [{ ipMasq: null }, /ipMasq: expected boolean/],
    [{ ipMasqBackend: 'pf' }, /ipMasqBackend: expected one of "nftables", "iptables"/],
    [{ mtu: '1500' }, /mtu: expected number/],
    [{ mtu: 1.5 }, /mtu: expected int/],
    [{ mtu: 50 }, /mtu: must be 0 \(unset\) or between 68 and 65535/],
    [{ mtu: 70000 }, /mtu: must be 0/],
    [{ hairpinMode: 'on' }, /hairpinMode: expected boolean/],
    [{ promiscMode: 0 }, /promiscMode: expected boolean/],
    [{ vlan: -1 }, /vlan: must be >= 0/],
    [{ vlan: 5000 }, /vlan: must be <= 4094/],
    [{ preserveDefaultVlan: 'no' }, /preserveDefaultVlan: expected boolean/],
    [{ vlanTrunk: {} }, /vlanTrunk: expected array/],
    [{ vlanTrunk: [{ id: 0 }] }, /vlanTrunk\[0\]\.id: must be >= 1/],
    [{ vlanTrunk: [{ minID: 1, maxID: 5000 }] }, /vlanTrunk\[0\]\.maxID: must be <= 4094/],
    [{ vlanTrunk: [{ minID: 10 }] }, /vlanTrunk\[0\]\.maxID: missing/],
    [{ vlanTrunk: [{ maxID: 10 }] }, /vlanTrunk\[0\]\.minID: missing/],
    [{ vlanTrunk: [{ minID: 10, maxID: 5 }] }, /vlanTrunk\[0\]\.minID: must not be greater than maxID/],
    [{ vlan: 10, vlanTrunk: [{ id: 5 }] }, /vlanTrunk: cannot set vlan and vlanTrunk at the same time/],
    [{ macspoofchk: 'true' }, /macspoofchk: expected boolean/],
    [{ enabledad: 1 }, /enabledad: expected boolean/],
    [{ disableContainerInterface: 'x' }, /disableContainerInterface: expected boolean/],
    [{ portIsolation: [] }, /portIsolation: expected boolean/],
    [{ hairpinMode: true, promiscMode: true }, /promiscMode: cannot set hairpinMode and promiscMode/],
    [{ disableContainerInterface: true, ipam: { type: 'host-local' } }, /disableContainerInterface: cannot use IPAM/],
    [{ runtimeConfig: { mac: 'zz' } }, /runtimeConfig\.mac: expected a MAC address/],
    [{ args: { cni: { mac: 12 } } }, /args\.cni\.mac: expected string/],
    [{ runtimeConfig: { ips: ['not-an-ip'] } }, /runtimeConfig\.ips\[0\]: expected an IP address/],
  ]
  for (const [input, msg] of rows) t.throws(() => parse(input), { name: 'CniError', code: 7, message: msg }, JSON.stringify(input))
})

t.test('DEL parses leniently: cross-key rules are skipped, types still checked', async (t) => {
  t.match(parse({ hairpinMode: true, promiscMode: true }, '', false), { hairpinMode: true, promiscMode: true })
  t.match(parse({ disableContainerInterface: true, ipam: { type: 'host-local' } }, '', false), { layer3: true })
  t.throws(() => parse({ mtu: 'x' }, '', false), { code: 7, message: /mtu/ })
})

t.test('collectVlanTrunk', async (t) => {
  t.same(collectVlanTrunk([]), [])
  t.same(collectVlanTrunk([{ minID: 3, maxID: 3 }, { id: 1 }]), [1, 3])
})

t.test("keys in any spelling Go accepts; the runtime's mac and ips capabilities too", async (t) => {
  const c = parse({ Bridge: 'br9', IsDefaultGateway: true, IPMasq: true, MTU: 1400, HairpinMode: true, VlanTrunk: [{ MinID: 2, MaxID: 3 }], RuntimeConfig: { MAC: '02:AA:00:00:00:01', IPs: ['10.0.0.9'] }, Args: { CNI: { MAC: '02:bb:00:00:00:01' } } })
  t.match(c, { bridge: 'br9', isGateway: true, isDefaultGateway: true, ipMasq: true, mtu: 1400, hairpinMode: true, vlanTrunk: [2, 3], mac: '02:aa:00:00:00:01', ips: ['10.0.0.9'] })
  t.throws(() => parse({ RuntimeConfig: { MAC: 'zz' } }), { code: 7, message: 'invalid network configuration: RuntimeConfig.MAC: expected a MAC address like 02:42:ac:11:00:02, received "zz"' })
})
