// SignalRelay by phase: during setup a signal aborts (the caller rolls back); while running it is
// forwarded (held until the target is known), and a second INT/TERM becomes KILL; during teardown
// signals are ignored. Signals are emitted on `process` (no real delivery to the test runner).
import t from 'tap'
import { spawn } from 'node:child_process'
import { processRef } from '../../../runtime-min/container/proc.js'
import { SetupAborted, SignalRelay } from '../../../runtime-min/container/signals.js'

const sleeper = () => {
  const c = spawn('sleep', ['100'], { stdio: 'ignore' })
  const done = new Promise<NodeJS.Signals | null>((resolve) => c.once('exit', (_code, sig) => resolve(sig)))
  return { c, done }
}

t.test('setup: a signal aborts, and says which', async (t) => {
  const r = new SignalRelay()
  t.teardown(() => r.dispose())
  t.doesNotThrow(() => r.check())
  process.emit('SIGTERM', 'SIGTERM')
  process.emit('SIGINT', 'SIGINT')
  t.equal(r.aborted, 'SIGTERM', 'the first one counts')
  t.throws(() => r.check(), SetupAborted)
  t.throws(() => r.check(), /interrupted by SIGTERM; everything set up so far was removed/)
})

t.test('running: held until the target is known, then forwarded; the second INT is KILL', async (t) => {
  const r = new SignalRelay()
  t.teardown(() => r.dispose())
  r.running()
  const a = sleeper()
  process.emit('SIGHUP', 'SIGHUP')
  await new Promise((res) => setTimeout(res, 50))
  t.equal(a.c.exitCode, null, 'nothing sent before the target is known')
  r.target(processRef(a.c.pid as number))
  t.equal(await a.done, 'SIGHUP', 'the held signal is delivered')

  const b = sleeper()
  r.target(processRef(b.c.pid as number))
  // sleep ends on the first INT already; a fresh one shows the escalation
  process.emit('SIGINT', 'SIGINT')
  t.equal(await b.done, 'SIGINT')
  const c = sleeper()
  r.target(processRef(c.c.pid as number))
  process.emit('SIGINT', 'SIGINT')
  t.equal(await c.done, 'SIGKILL', 'a second INT becomes KILL')
})

t.test('teardown: ignored; dispose removes the handlers', async (t) => {
  const r = new SignalRelay()
  r.running()
  const a = sleeper()
  r.target(processRef(a.c.pid as number))
  r.teardown()
  process.emit('SIGTERM', 'SIGTERM')
  await new Promise((res) => setTimeout(res, 50))
  t.equal(a.c.exitCode, null, 'not forwarded during teardown')
  const before = process.listenerCount('SIGTERM')
  r.dispose()
  t.equal(process.listenerCount('SIGTERM'), before - 1)
  a.c.kill('SIGKILL')
  await a.done
})

t.test('a signal between the last setup check and running() is forwarded, not lost', async (t) => {
  const r = new SignalRelay()
  t.teardown(() => r.dispose())
  process.emit('SIGTERM', 'SIGTERM')
  r.running()
  const a = sleeper()
  r.target(processRef(a.c.pid as number))
  t.equal(await a.done, 'SIGTERM')
})
