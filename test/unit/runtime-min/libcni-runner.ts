// What each plugin gets on stdin (libcni buildOneConfig/injectRuntimeConfig): name and cniVersion of the
// list, prevResult in the list's version, and in runtimeConfig only the capabilities it declares.
import t from 'tap'
import { capabilityConfig, pluginStdin } from '../../../runtime-min/libcni/runner.js'
import type { NetworkList } from '../../../runtime-min/libcni/types.js'

const list = (version: string): NetworkList => ({
  name: 'net1',
  cniVersion: version,
  disableCheck: false,
  disableGC: false,
  loadOnlyInlinedPlugins: false,
  plugins: [],
  bytes: new Uint8Array(),
  source: '',
})
const rt = (capabilityArgs: Record<string, unknown>) => ({ containerId: 'c1', netns: '/x', ifName: 'eth0', args: [], capabilityArgs })
const caps = { portMappings: [{ hostPort: 80, containerPort: 8080 }], ips: ['10.1.0.5/24'], mac: '02:00:00:00:00:01', bandwidth: { ingressRate: 1 } }

t.test('only declared and enabled capabilities are passed', async (t) => {
  t.same(capabilityConfig({ type: 'portmap', capabilities: { portMappings: true } }, caps), { portMappings: caps.portMappings })
  t.same(capabilityConfig({ type: 'bridge', capabilities: { ips: true, mac: true, aliases: true } }, caps), { ips: caps.ips, mac: caps.mac }, 'a declared capability the runtime did not give is absent')
  t.same(capabilityConfig({ type: 'bridge', capabilities: { ips: false } }, caps), {}, 'false means not declared')
  t.same(capabilityConfig({ type: 'tuning' }, caps), {}, 'no capabilities key: nothing')
})

t.test('runtimeConfig replaces the config\'s own only when a capability applies (as libcni)', async (t) => {
  const withRc = { type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [] } }
  t.same(pluginStdin(list('1.0.0'), withRc, undefined, rt(caps))['runtimeConfig'], { portMappings: caps.portMappings })
  t.same(pluginStdin(list('1.0.0'), withRc, undefined, rt({}))['runtimeConfig'], { portMappings: [] }, 'left alone when no capability applies')
  t.notOk('runtimeConfig' in pluginStdin(list('1.0.0'), { type: 'tuning' }, undefined, rt(caps)))
})

t.test('name, cniVersion and prevResult are injected; other keys kept', async (t) => {
  const prev = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }], interfaces: [{ name: 'eth0', sandbox: '/x' }] }
  const out = pluginStdin(list('0.4.0'), { type: 'x', name: 'ignored', cniVersion: '9.9.9', custom: { a: 1 } }, prev, rt({}))
  t.equal(out['name'], 'net1')
  t.equal(out['cniVersion'], '0.4.0')
  t.same(out['custom'], { a: 1 })
  t.same(out['prevResult'], { cniVersion: '0.4.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1' }], dns: {} }, 'prevResult converted to the list version')
  t.notOk('prevResult' in pluginStdin(list('1.0.0'), { type: 'x' }, undefined, rt({})))
})
