// execInNetns in the current namespace (no privileges): output, stdin, exit status, timeouts.
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { execInNetns, findExecutable } from '../../../../pkg/firewall/exec.js'

t.test('findExecutable searches PATH and the sbin directories', async (t) => {
  const sh = findExecutable('sh', '')
  t.ok(sh?.startsWith('/'), `sh found without PATH: ${sh}`)
  t.equal(findExecutable('sh', '/nonexistent'), sh)
  t.equal(findExecutable('berth-no-such-tool-x', '/usr/bin'), undefined)
  t.equal(findExecutable('/bin/sh'), '/bin/sh', 'absolute paths are checked as given')
  const dir = t.testdir({ 'plain.txt': 'x' })
  t.equal(findExecutable(`${dir}/plain.txt`), undefined, 'not executable')
  t.equal(findExecutable('plain.txt', dir), undefined, 'not executable in PATH either')
  t.equal(findExecutable('/usr/bin'), undefined, 'a directory is not an executable')
})

t.test('stdin in, stdout and stderr out, status reported', async (t) => {
  t.same(await execInNetns(undefined, 'cat', [], { input: 'a b\n' }), { status: 0, signal: null, stdout: 'a b\n', stderr: '' })
  const r = await execInNetns(undefined, 'sh', ['-c', 'echo oops >&2; exit 3'])
  t.same(r, { status: 3, signal: null, stdout: '', stderr: 'oops\n' })
  const big = 'x'.repeat(1 << 20)
  t.equal((await execInNetns(undefined, 'cat', [], { input: big })).stdout.length, big.length, 'a megabyte passes through')
})

t.test('arguments are passed as argv, never through a shell', async (t) => {
  const r = await execInNetns(undefined, 'printf', ['%s|', 'a b', '$(id)', ';ls'])
  t.equal(r.stdout, 'a b|$(id)|;ls|')
})

t.test('LC_ALL=C for stable messages', async (t) => {
  t.equal((await execInNetns(undefined, 'sh', ['-c', 'printf %s "$LC_ALL"'])).stdout, 'C')
})

t.test('a child that ignores stdin does not break the call', async (t) => {
  const r = await execInNetns(undefined, 'true', [], { input: 'x'.repeat(1 << 20) })
  t.equal(r.status, 0)
})

t.test('timeouts kill the child', async (t) => {
  const r = await execInNetns(undefined, 'sleep', ['10'], { timeoutMs: 100 })
  t.equal(r.status, null)
  t.equal(r.signal, 'SIGKILL')
  t.match(r.stderr, /killed after 100 ms/)
})

t.test('a missing executable is CniError 50', async (t) => {
  await t.rejects(execInNetns(undefined, '/nonexistent/berth-tool', []), { name: 'CniError', code: CniCode.NotAvailable, message: /failed to run \/nonexistent\/berth-tool: .*ENOENT/ })
})
