// Delegation to another plugin executable, with fake plugins written as small node scripts.
import t from 'tap'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { delegateAdd, delegateDel } from '../../../../pkg/invoke/delegate.js'
import { execPlugin } from '../../../../pkg/invoke/exec-plugin.js'
import { findInPath } from '../../../../pkg/invoke/find-in-path.js'

function fakePlugin(dir: string, name: string, body: string): string {
  const p = join(dir, name)
  writeFileSync(p, `#!${process.execPath}\n${body}\n`)
  chmodSync(p, 0o755)
  return p
}

// Echoes what it was given, so the test can see the environment and stdin the delegate received.
const ECHO = `
const fs = require('fs')
const stdin = fs.readFileSync(0, 'utf8')
const conf = JSON.parse(stdin)
process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }],
  dns: { nameservers: [process.env.CNI_COMMAND, process.env.CNI_IFNAME] } }))
`

t.test('findInPath looks through CNI_PATH in order and rejects path-like types', async (t) => {
  const a = t.testdir({})
  const b = t.testdir({})
  fakePlugin(b, 'host-local', ECHO)
  t.equal(findInPath('host-local', [a, b]), join(b, 'host-local'))
  t.throws(() => findInPath('nope', [a, b]), { code: 104, message: /failed to find plugin "nope" in path/ })
  t.throws(() => findInPath('../host-local', [a]), { code: 7 })
  t.throws(() => findInPath('host-local', []), { code: 4, message: /CNI_PATH/ })
})

t.test('delegateAdd passes env and stdin through, with CNI_COMMAND=ADD, and parses the result', async (t) => {
  const dir = t.testdir({})
  fakePlugin(dir, 'fake-ipam', ECHO)
  const stdin = Buffer.from(JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'bridge', ipam: { type: 'fake-ipam' } }))
  const r = await delegateAdd({ type: 'fake-ipam', path: [dir], env: { PATH: process.env['PATH'], CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth7' }, stdin })
  t.same(r.ips, [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }], '0.4.0 result read into the canonical form')
  t.same(r.dns?.nameservers, ['ADD', 'eth7'])
})

t.test("a failing delegate's error JSON keeps its code and message", async (t) => {
  const dir = t.testdir({})
  fakePlugin(dir, 'full', `process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', code: 100, msg: 'no IP addresses available in range set', details: 'x' })); process.exit(1)`)
  await t.rejects(delegateAdd({ type: 'full', path: [dir], env: {}, stdin: Buffer.from('{}') }), { code: 100, message: 'no IP addresses available in range set', details: 'x' })
})

t.test('a delegate that crashes without an error document is code 104 with its output', async (t) => {
  const dir = t.testdir({})
  const p = fakePlugin(dir, 'crash', `process.stdout.write('garbage'); process.exit(3)`)
  await t.rejects(execPlugin(p, { env: {}, stdin: Buffer.from('') }), { code: 104, message: /exited with status 3/, details: 'garbage' })
  const bad = fakePlugin(dir, 'badjson', `process.stdout.write('{not json')`)
  await t.rejects(execPlugin(bad, { env: {}, stdin: Buffer.from('') }), { code: 6, message: /invalid JSON/ })
  const slow = fakePlugin(dir, 'slow', `setTimeout(() => {}, 10000)`)
  await t.rejects(execPlugin(slow, { env: {}, stdin: Buffer.from(''), timeoutMs: 200 }), { code: 104, message: /killed by SIGKILL/ })
})

t.test('delegateDel succeeds on empty output and ADD with no output is an error', async (t) => {
  const dir = t.testdir({})
  fakePlugin(dir, 'quiet', `require('fs').readFileSync(0)`)
  await t.resolves(delegateDel({ type: 'quiet', path: [dir], env: {}, stdin: Buffer.from('{}') }))
  await t.rejects(delegateAdd({ type: 'quiet', path: [dir], env: {}, stdin: Buffer.from('{}') }), { code: 6, message: /no result/ })
})
