import t from 'tap'
import { parseCniArgs } from '../../../../pkg/cni/args.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { changesLink, DEFAULT_DATA_DIR, parseTuningConfig } from '../../../../plugins/tuning/config.js'
import { wanted } from '../../../../plugins/tuning/add.js'
import { statePath } from '../../../../plugins/tuning/state.js'

const netConf = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'tnet', type: 'tuning', ...extra }))
const parse = (extra: Record<string, unknown> = {}, cniArgs = '', strict = true) => parseTuningConfig(netConf(extra), parseCniArgs(cniArgs), { strict })
const code = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof CniError ? e.code : -1
  }
  return undefined
}

t.test('defaults: nothing to change, the reference data dir', async (t) => {
  const c = parse()
  t.same({ ...c, netConf: undefined }, { netConf: undefined, sysctl: [], mac: undefined, promisc: undefined, allmulti: undefined, mtu: undefined, txQLen: undefined, dataDir: DEFAULT_DATA_DIR })
  t.notOk(changesLink(c))
  t.same(wanted(c), [])
  t.equal(parse({ mtu: 0 }).mtu, undefined, 'mtu 0 means unset, as in the reference')
})

t.test('every key, in the order ADD applies them', async (t) => {
  const c = parse({ sysctl: { 'net.core.somaxconn': '500' }, mac: 'C2:B0:57:49:47:F1', promisc: true, allmulti: false, mtu: 1400, txQLen: 0, dataDir: '/tmp/x' })
  t.same(c.sysctl, [['net.core.somaxconn', '500']])
  t.equal(c.mac, 'c2:b0:57:49:47:f1', 'MAC lower-cased')
  t.same(wanted(c).map((w) => w.key), ['mac', 'promisc', 'mtu', 'allmulti', 'txQLen'])
  t.equal(c.dataDir, '/tmp/x')
  t.ok(changesLink(c))
})

t.test('MAC precedence: config < CNI_ARGS MAC < runtimeConfig.mac < args.cni.mac', async (t) => {
  t.equal(parse({ mac: '02:00:00:00:00:01' }).mac, '02:00:00:00:00:01')
  t.equal(parse({ mac: '02:00:00:00:00:01' }, 'MAC=02:00:00:00:00:02').mac, '02:00:00:00:00:02')
  t.equal(parse({ mac: '02:00:00:00:00:01', runtimeConfig: { mac: '02:00:00:00:00:03' } }, 'MAC=02:00:00:00:00:02').mac, '02:00:00:00:00:03')
  t.equal(parse({ runtimeConfig: { mac: '02:00:00:00:00:03' }, args: { cni: { mac: '02:00:00:00:00:04' } } }).mac, '02:00:00:00:00:04')
})

t.test('args.cni overrides and adds sysctls', async (t) => {
  const c = parse({ sysctl: { 'net.core.somaxconn': '500', 'net.ipv4.conf.all.arp_notify': '1' }, args: { cni: { sysctl: { 'net.core.somaxconn': '600' }, mtu: 1300, promisc: false, txQLen: 9 } } })
  t.same(c.sysctl, [['net.core.somaxconn', '600'], ['net.ipv4.conf.all.arp_notify', '1']])
  t.equal(c.mtu, 1300)
  t.equal(c.promisc, false)
  t.equal(c.txQLen, 9)
})

t.test('bad input is CniError 7 (config) or 4 (CNI_ARGS)', async (t) => {
  for (const key of ['kernel.hostname', 'net/../kernel/x', 'net..core', '/proc/sys/net/core/somaxconn', 'net.core.some thing', '']) {
    t.equal(code(() => parse({ sysctl: { [key]: '1' } })), 7, `sysctl key ${JSON.stringify(key)}`)
  }
  t.equal(code(() => parse({ args: { cni: { sysctl: { 'vm.swappiness': '1' } } } })), 7, 'args.cni sysctl checked too')
  t.equal(code(() => parse({ sysctl: { 'net.core.somaxconn': '1\n2' } })), 7, 'multi-line value')
  t.equal(code(() => parse({ sysctl: { 'net.core.somaxconn': 500 } })), 7, 'value must be a string')
  t.equal(code(() => parse({ mac: 'zz:00:00:00:00:00' })), 7)
  t.equal(code(() => parse({ mac: '01:00:5e:00:00:01' })), 7, 'multicast MAC')
  t.equal(code(() => parse({ mtu: 20 })), 7)
  t.equal(code(() => parse({ txQLen: -1 })), 7)
  t.equal(code(() => parse({ promisc: 'yes' })), 7)
  t.equal(code(() => parse({ dataDir: 'relative/dir' })), 7)
  t.equal(code(() => parse({ dataDir: '/run/../etc' })), 7)
  t.equal(code(() => parse({}, 'MAC=nope')), 4)
  t.equal(code(() => parse({}, 'FOO=1')), 4, 'unknown CNI_ARGS')
  t.equal(code(() => parse({}, 'IgnoreUnknown=1;FOO=1')), undefined)
})

t.test('DEL parses leniently: only dataDir matters', async (t) => {
  const c = parse({ sysctl: { 'kernel.hostname': 'x' }, dataDir: '/tmp/y' }, 'FOO=1', false)
  t.equal(c.dataDir, '/tmp/y')
  t.same(c.sysctl, [])
})

t.test('state file path stays inside the data dir', async (t) => {
  t.equal(statePath('/run/cni/tuning', 'abc', 'eth0'), '/run/cni/tuning/abc_eth0.json')
  t.equal(code(() => statePath('/run/cni/tuning', '../x', 'eth0')), 4, 'no ".." component')
  t.equal(code(() => statePath('/run/cni/tuning', 'a/../../x', 'eth0')), 4)
})

t.test("keys in any spelling Go accepts; sysctl names (map keys) exactly as sent", async (t) => {
  const c = parse({ SysCtl: { 'net.core.somaxconn': '500' }, sysctl: { 'net.ipv4.conf.eth0.arp_ignore': '1' }, Promisc: true, MTU: 1400, RuntimeConfig: { Mac: '02:00:00:00:00:09' }, Args: { Cni: { TxQLen: 7 } } })
  t.same(c.sysctl, [['net.core.somaxconn', '500'], ['net.ipv4.conf.eth0.arp_ignore', '1']], 'two spellings of one map: merged (reference tuning applied both)')
  t.match(c, { promisc: true, mtu: 1400, mac: '02:00:00:00:00:09', txQLen: 7 })
  t.equal(code(() => parse({ SYSCTL: { 'Net.Core.Somaxconn': '1' } })), 7, 'the map key is not folded (only net.* is allowed)')
})
