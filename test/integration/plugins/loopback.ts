// bin/loopback against the kernel, for every supported spec version, side by side with the reference
// plugin when /usr/lib/cni has it.
import t from 'tap'
import { existsSync } from 'node:fs'
import { runPlugin } from '../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { BIN_DIR } from '../../helpers/paths.js'

const skip = needsRoot() || needsBuiltBin('loopback', BIN_DIR)
const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
const REF = '/usr/lib/cni'

const conf = (v: string, extra: Record<string, unknown> = {}) => ({ cniVersion: v, name: 'lonet', type: 'loopback', ...extra })
const loState = (ns: TestNetns) => (ns.ipJson(['link', 'show', 'lo']) as { flags: string[] }[])[0]?.flags ?? []

for (const v of VERSIONS) {
  t.test(`ADD, CHECK, DEL, DEL with cniVersion ${v}`, { skip }, async (t) => {
    const ns = await createTestNetns(t)
    t.notOk(loState(ns).includes('UP'), 'lo starts down')
    const add = runPlugin('loopback', { command: 'ADD', netns: ns.path, ifName: 'lo', stdin: conf(v) })
    t.equal(add.status, 0, add.stdout + add.stderr)
    t.ok(loState(ns).includes('UP'), 'lo is up')
    const ips = [{ address: '127.0.0.1/8', interface: 0 }, { address: '::1/128', interface: 0 }]
    const legacy = v.startsWith('0.')
    // Go's encoder prints an empty "dns": {} (omitempty keeps structs); either form is the same result.
    const { dns, ...got } = add.json ?? {}
    t.ok(dns === undefined || JSON.stringify(dns) === '{}', 'no DNS settings')
    t.same(got, {
      cniVersion: v,
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: ns.path }],
      ips: legacy ? ips.map((ip, i) => ({ version: i === 0 ? '4' : '6', ...ip })) : ips,
    })
    ns.exec('ping', ['-c', '1', '-W', '2', '127.0.0.1'])
    if (v !== '0.3.0' && v !== '0.3.1') {
      const check = runPlugin('loopback', { command: 'CHECK', netns: ns.path, ifName: 'lo', stdin: conf(v, { prevResult: add.json }) })
      t.equal(check.status, 0, check.stdout)
    }
    const del = runPlugin('loopback', { command: 'DEL', netns: ns.path, ifName: 'lo', stdin: conf(v, { prevResult: add.json }) })
    t.equal(del.status, 0, del.stdout)
    t.equal(del.stdout, '', 'DEL prints nothing')
    t.notOk(loState(ns).includes('UP'), 'lo is down again')
    t.equal(runPlugin('loopback', { command: 'DEL', netns: ns.path, ifName: 'lo', stdin: conf(v) }).status, 0, 'second DEL')
  })
}

t.test('CHECK fails clearly when lo is down', { skip }, async (t) => {
  const ns = await createTestNetns(t)
  const add = runPlugin('loopback', { command: 'ADD', netns: ns.path, ifName: 'lo', stdin: conf('1.1.0') })
  ns.exec('ip', ['link', 'set', 'lo', 'down'])
  const check = runPlugin('loopback', { command: 'CHECK', netns: ns.path, ifName: 'lo', stdin: conf('1.1.0', { prevResult: add.json }) })
  t.not(check.status, 0)
  t.match(check.json, { code: 103, msg: /loopback interface in .* is down/ })
})

t.test('CHECK with cniVersion 0.3.1 is refused (CHECK needs 0.4.0)', { skip }, async (t) => {
  const ns = await createTestNetns(t)
  const check = runPlugin('loopback', { command: 'CHECK', netns: ns.path, ifName: 'lo', stdin: conf('0.3.1') })
  t.match(check.json, { code: 1, msg: /CHECK/ })
})

t.test('a chained loopback passes prevResult through', { skip }, async (t) => {
  const ns = await createTestNetns(t)
  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: ns.path }], ips: [{ address: '10.9.0.2/24', gateway: '10.9.0.1', interface: 0 }] }
  const add = runPlugin('loopback', { command: 'ADD', netns: ns.path, ifName: 'lo', stdin: conf('1.0.0', { prevResult: prev }) })
  t.equal(add.status, 0, add.stdout)
  t.same(add.json, prev)
})

t.test('DEL succeeds when the namespace is gone or not given', { skip }, async (t) => {
  const gone = runPlugin('loopback', { command: 'DEL', netns: '/run/netns/berth-gone-ns', ifName: 'lo', stdin: conf('1.1.0') })
  t.equal(gone.status, 0, gone.stdout)
  const none = runPlugin('loopback', { command: 'DEL', netns: '', ifName: 'lo', stdin: conf('1.1.0') })
  t.equal(none.status, 0, none.stdout)
})

t.test('STATUS and GC succeed', { skip }, async (t) => {
  const env = { CNI_COMMAND: 'STATUS', CNI_PATH: BIN_DIR }
  t.equal(runPlugin('loopback', { env, stdin: conf('1.1.0') }).status, 0)
  t.equal(runPlugin('loopback', { env: { ...env, CNI_COMMAND: 'GC' }, stdin: conf('1.1.0', { 'cni.dev/valid-attachments': [] }) }).status, 0)
})

t.test('same result as the reference loopback', { skip: skip || (existsSync(`${REF}/loopback`) ? false : 'reference plugins not installed') }, async (t) => {
  for (const v of ['0.4.0', '1.0.0']) {
    const a = await createTestNetns(t)
    const b = await createTestNetns(t)
    const ours = runPlugin('loopback', { command: 'ADD', netns: a.path, ifName: 'lo', stdin: conf(v) })
    const ref = runPlugin('loopback', { command: 'ADD', netns: b.path, ifName: 'lo', stdin: conf(v), dir: REF, path: REF })
    t.equal(ref.status, 0, ref.stdout)
    // The reference prints an empty "dns": {} (Go omitempty does not omit structs), and Debian's build
    // (libcni 1.1.1) leaves out ips[].version when converting to 0.4.0, which the 0.4.0 spec requires
    // and newer libcni adds; berth adds it. Everything else must match.
    const norm = (j: Record<string, unknown> | undefined, path: string) => {
      const { dns: _dns, ...rest } = j ?? {}
      return JSON.parse(JSON.stringify(rest).replaceAll(path, 'NETNS').replace(/"version":"[46]",/g, '')) as unknown
    }
    t.same(norm(ours.json, a.path), norm(ref.json, b.path), `cniVersion ${v}`)
  }
})
