// FileLock over flock(2): creation, exclusion within a process and across processes, timeouts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { FileLock, withLock } from '../../../../pkg/lock/lock.js'

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hold-lock.ts')
// The child runs TypeScript through the same loader tap gives this process.
const childExecArgv = process.execArgv.filter((a) => a.includes('typescript'))
const childEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }

t.test('the lock file is created 0600 and withLock returns fn\'s value', async (t) => {
  const path = join(t.testdir(), 'lock')
  t.equal(await withLock(path, () => 42), 42)
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.equal(await withLock(path, async () => 'again'), 'again', 'released, so it can be taken again')
})

t.test('an existing lock file is used as is', async (t) => {
  const dir = t.testdir({ lock: 'keep me' })
  await withLock(join(dir, 'lock'), () => undefined)
  t.equal(statSync(join(dir, 'lock')).size, 7)
})

t.test('two holders in one process exclude each other (flock is per open file description)', async (t) => {
  const path = join(t.testdir(), 'lock')
  const first = await FileLock.acquire(path)
  t.ok(first.held)
  t.equal(FileLock.tryAcquire(path), undefined, 'tryAcquire fails while held')
  const started = Date.now()
  await t.rejects(FileLock.acquire(path, { timeoutMs: 150 }), {
    name: 'CniError',
    code: CniCode.TryAgainLater,
    message: `timed out after 150 ms waiting for lock ${path}`,
  })
  t.ok(Date.now() - started >= 140, 'waited for the timeout')
  first.release()
  first.release()
  t.notOk(first.held, 'release is idempotent')
  const second = FileLock.tryAcquire(path)
  t.ok(second?.held, 'free after release')
  second?.release()
})

t.test('a waiter gets the lock as soon as it is released', async (t) => {
  const path = join(t.testdir(), 'lock')
  const first = await FileLock.acquire(path)
  setTimeout(() => first.release(), 50)
  const second = await FileLock.acquire(path, { timeoutMs: 2000 })
  t.ok(second.held)
  second.release()
})

t.test('withLock holds the lock across awaits and releases it when fn throws', async (t) => {
  const path = join(t.testdir(), 'lock')
  const seen: (FileLock | undefined)[] = []
  await withLock(path, async () => {
    await new Promise((r) => setTimeout(r, 10))
    seen.push(FileLock.tryAcquire(path))
  })
  t.same(seen, [undefined], 'held during the async body')
  await t.rejects(
    withLock(path, async () => {
      throw new Error('body failed')
    }),
    { message: 'body failed' },
  )
  const after = FileLock.tryAcquire(path)
  t.ok(after, 'released after the throw')
  after?.release()
})

t.test('shared locks coexist and keep an exclusive one out', async (t) => {
  const path = join(t.testdir(), 'lock')
  const a = await FileLock.acquire(path, { shared: true })
  const b = FileLock.tryAcquire(path, { shared: true })
  t.ok(b, 'two shared holders')
  t.equal(FileLock.tryAcquire(path), undefined, 'no exclusive holder meanwhile')
  a.release()
  b?.release()
})

t.test('bad lock paths are CniError 5', async (t) => {
  const dir = t.testdir({ real: '' })
  await t.rejects(FileLock.acquire(join(dir, 'missing', 'lock')), { code: CniCode.IoFailure, message: /failed to open lock file .*: ENOENT/ })
  symlinkSync(join(dir, 'real'), join(dir, 'link'))
  await t.rejects(FileLock.acquire(join(dir, 'link')), { code: CniCode.IoFailure, message: /ELOOP/ }, 'symlinks are not followed')
  mkdirSync(join(dir, 'sub'))
  await t.rejects(FileLock.acquire(join(dir, 'sub')), { code: CniCode.IoFailure }, 'a directory is not a lock file')
})

function startHolder(path: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...childExecArgv, CHILD, path, 'hold'], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('locked\n')) resolve(child)
    })
    child.on('exit', (code) => reject(new Error(`holder exited early (${code}): ${out}`)))
  })
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.on('exit', (c) => r(c)))
}

t.test('another process holding the lock makes us time out with code 11', async (t) => {
  const path = join(t.testdir(), 'lock')
  const holder = await startHolder(path)
  t.teardown(() => {
    holder.kill('SIGKILL')
  })
  await t.rejects(FileLock.acquire(path, { timeoutMs: 200 }), { code: CniCode.TryAgainLater, message: new RegExp(`waiting for lock ${path}$`) })
  holder.stdin!.end()
  t.equal(await exited(holder), 0, 'holder released and exited')
  const lock = await FileLock.acquire(path, { timeoutMs: 2000 })
  t.ok(lock.held, 'ours once the other process released it')
  lock.release()
})

t.test('a holder that dies (SIGKILL) releases the lock', async (t) => {
  const path = join(t.testdir(), 'lock')
  const holder = await startHolder(path)
  t.equal(FileLock.tryAcquire(path), undefined)
  holder.kill('SIGKILL')
  await exited(holder)
  const lock = await FileLock.acquire(path, { timeoutMs: 2000 })
  t.ok(lock.held)
  lock.release()
})

t.test('a child process times out on our lock with code 11, and gets it once we release', async (t) => {
  const path = join(t.testdir(), 'lock')
  writeFileSync(path, '')
  const lock = await FileLock.acquire(path)
  const run = () => spawnSync(process.execPath, [...childExecArgv, CHILD, path, 'try', '200'], { encoding: 'utf8', env: childEnv, timeout: 20000 })
  const blocked = run()
  t.equal(blocked.status, 2, blocked.stderr)
  t.same(JSON.parse(blocked.stdout), { code: CniCode.TryAgainLater, message: `timed out after 200 ms waiting for lock ${path}` })
  lock.release()
  const free = run()
  t.equal(free.status, 0, free.stderr)
  t.equal(free.stdout, 'acquired\n')
})
