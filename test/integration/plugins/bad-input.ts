// Every plugin executable answers bad input with one CNI error document on stdout, the right code,
// a message naming the problem, a non-zero exit, and no stack trace.
import t, { type Test } from 'tap'
import { builtPluginTypes, runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsRoot } from '../../helpers/privileges.js'
import { createTestNetns } from '../../helpers/netns.js'

const types = builtPluginTypes()

function expectError(t: Test, r: PluginRun, code: number, msg: RegExp): void {
  t.not(r.status, 0, 'non-zero exit')
  t.ok(r.json, `one JSON document on stdout: ${r.stdout}`)
  t.equal(r.json?.['code'], code, `code ${code}: ${String(r.json?.['msg'])}`)
  t.match(String(r.json?.['msg']), msg)
  t.notMatch(r.stdout, /\n\s+at\s/, 'no stack trace on stdout')
}

t.test('plugin executables are built', async (t) => {
  t.ok(types.includes('loopback'), `bin/ holds ${types.join(', ') || 'nothing'}: run npm run build`)
})

// The smallest configuration each type accepts, so each case below fails only for the input it breaks.
const MINIMAL: Record<string, Record<string, unknown>> = {
  'host-local': { ipam: { type: 'host-local', subnet: '10.250.0.0/24', dataDir: '/run/berth-bad-input-never-written' } },
  'host-device': { device: 'btnosuchdev0' },
  macvlan: { master: 'btnosuchdev0' },
  bridge: { bridge: 'btbadinput0' },
  'overlay-vxlan': { clusterCidr: '10.244.0.0/16', store: { type: 'file', path: '/run/berth-bad-input-never-written' } },
}
// IPAM plugins never open the container's namespace (the reference host-local ignores CNI_NETNS).
const IGNORES_NETNS = new Set(['host-local'])

for (const type of types) {
  t.test(`${type}: bad input`, { skip: needsRoot() }, async (t) => {
    // Plugins run inside a throw-away host namespace, so a plugin that wrongly acts before it
    // validates cannot touch the real host.
    const host = await createTestNetns(t)
    const ns = await createTestNetns(t)
    const conf = { cniVersion: '1.1.0', name: 'badnet', type, ...MINIMAL[type] }
    const good = { command: 'ADD', netns: ns.path, ifName: 'eth0', containerId: 'c1', hostNetns: host.path }

    expectError(t, runPlugin(type, { env: {}, stdin: conf, hostNetns: host.path }), 4, /CNI_COMMAND/)
    expectError(t, runPlugin(type, { ...good, command: 'ATTACH', stdin: conf }), 4, /unknown CNI_COMMAND "ATTACH"/)
    expectError(t, runPlugin(type, { ...good, stdin: '{"cniVersion": "1.1.0", "name": ' }), 6, /decode|parse|JSON/i)
    expectError(t, runPlugin(type, { ...good, stdin: { cniVersion: '1.1.0', type } }), 7, /name/)
    expectError(t, runPlugin(type, { ...good, stdin: { ...conf, cniVersion: '9.9.9' } }), 1, /9\.9\.9/)
    expectError(t, runPlugin(type, { ...good, netns: '', stdin: conf }), 4, /CNI_NETNS/)
    if (!IGNORES_NETNS.has(type)) {
      expectError(t, runPlugin(type, { ...good, netns: '/run/netns/berth-does-not-exist', stdin: conf }), 4, /berth-does-not-exist/)
    }
    expectError(t, runPlugin(type, { ...good, ifName: 'a-very-long-interface-name', stdin: conf }), 4, /interface name|CNI_IFNAME/i)
    for (const ifName of ['eth/0', '%d', '.', '..', 'eth 0', 'eth0:1']) {
      expectError(t, runPlugin(type, { ...good, ifName, stdin: conf }), 4, /interface name|CNI_IFNAME/i)
    }
    // 100,000 levels in any field, known or not, for every verb: a decoding error, not a stack overflow.
    const deep = (v: string) => `${'['.repeat(100_000)}${v}${']'.repeat(100_000)}`
    for (const field of ['prevResult', 'runtimeConfig', 'ipam', 'args', 'unknownKey']) {
      const text = JSON.stringify({ ...conf, [field]: 0 }).replace(`"${field}":0`, `"${field}":${deep('1')}`)
      for (const command of ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS']) {
        expectError(t, runPlugin(type, { ...good, command, stdin: text }), 6, /nested 100001 levels deep/)
      }
    }
    expectError(t, runPlugin(type, { ...good, containerId: '../../etc/passwd', stdin: conf }), 4, /container ?ID|CNI_CONTAINERID/i)
    // Nothing was created in the host namespace by any of the failed calls.
    t.same((host.ipJson(['link']) as { ifname: string }[]).map((l) => l.ifname), ['lo'], 'no links left in the host namespace')
  })
}
