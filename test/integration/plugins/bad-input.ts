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

for (const type of types) {
  t.test(`${type}: bad input`, { skip: needsRoot() }, async (t) => {
    const ns = await createTestNetns(t)
    const conf = { cniVersion: '1.1.0', name: 'badnet', type }
    const good = { command: 'ADD', netns: ns.path, ifName: 'eth0', containerId: 'c1' }

    expectError(t, runPlugin(type, { env: {}, stdin: conf }), 4, /CNI_COMMAND/)
    expectError(t, runPlugin(type, { ...good, command: 'ATTACH', stdin: conf }), 4, /unknown CNI_COMMAND "ATTACH"/)
    expectError(t, runPlugin(type, { ...good, stdin: '{"cniVersion": "1.1.0", "name": ' }), 6, /decode|parse|JSON/i)
    expectError(t, runPlugin(type, { ...good, stdin: { cniVersion: '1.1.0', type } }), 7, /name/)
    expectError(t, runPlugin(type, { ...good, stdin: { ...conf, cniVersion: '9.9.9' } }), 1, /9\.9\.9/)
    expectError(t, runPlugin(type, { ...good, netns: '', stdin: conf }), 4, /CNI_NETNS/)
    expectError(t, runPlugin(type, { ...good, netns: '/run/netns/berth-does-not-exist', stdin: conf }), 4, /berth-does-not-exist/)
    expectError(t, runPlugin(type, { ...good, ifName: 'a-very-long-interface-name', stdin: conf }), 4, /interface name|CNI_IFNAME/i)
    expectError(t, runPlugin(type, { ...good, ifName: 'eth/0', stdin: conf }), 4, /interface name|CNI_IFNAME/i)
    expectError(t, runPlugin(type, { ...good, containerId: '../../etc/passwd', stdin: conf }), 4, /container ?ID|CNI_CONTAINERID/i)
  })
}
