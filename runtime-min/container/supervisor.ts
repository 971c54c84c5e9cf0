// The detached container's supervisor: a berth process in its own session (`berth _supervise NAME`)
// that starts the command with its output going straight to the container's log file, tells `berth
// run -d` over the IPC channel that it started (or why not), then waits for it and, when it ends,
// tears down its networking and records the exit code. The stopped container stays listed until
// `berth rm` (as Docker). Its own errors go to supervisor.log in the container's directory.
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { describe } from '../../pkg/errors/describe.js'
import { CliError } from '../cli-error.js'
import { finish, start, type Ctx } from './lifecycle.js'
import { killContainer, waitUntil } from './proc.js'
import { SignalRelay } from './signals.js'

type Report = { started: true } | { error: string }

const STARTUP_TIMEOUT_MS = 30_000

/** Used by `berth run -d`: spawns the supervisor and waits until it has started the command. */
export async function startSupervisor(ctx: Ctx, name: string): Promise<void> {
  const script = process.argv[1]
  if (script === undefined) throw new CliError('cannot find the berth executable to start a supervisor')
  const errFd = openSync(ctx.store.path(name, 'supervisor.log'), 'a', 0o600)
  const child = (() => {
    try {
      return spawn(process.execPath, [script, '_supervise', name], { detached: true, stdio: ['ignore', 'ignore', errFd, 'ipc'], env: process.env })
    } finally {
      closeSync(errFd)
    }
  })()
  const report = await new Promise<Report>((resolve) => {
    const timer = setTimeout(() => resolve({ error: `no word from it within ${STARTUP_TIMEOUT_MS / 1000} s` }), STARTUP_TIMEOUT_MS)
    const done = (r: Report) => {
      clearTimeout(timer)
      resolve(r)
    }
    child.once('message', (m) => done(m as Report))
    child.once('error', (e) => done({ error: describe(e) }))
    child.once('exit', (code, signal) => done({ error: `it exited (${code ?? signal}) before starting the command` }))
  })
  if ('error' in report) {
    // make sure neither the supervisor nor a half-started command outlives the rollback
    const state = ctx.store.tryRead(name)
    if (state !== undefined) killContainer(state)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 5000)
    throw new CliError(`cannot start container ${name}: the supervisor failed: ${report.error}`, `see ${ctx.store.path(name, 'supervisor.log')}`)
  }
  child.disconnect()
  child.unref()
}

/** `berth _supervise NAME`: the supervisor's body. */
export async function supervise(ctx: Ctx, name: string): Promise<number> {
  const send = (r: Report) => {
    if (process.connected) process.send?.(r)
  }
  // No terminal: only explicit kills reach us; they are forwarded (a second TERM kills the command).
  const relay = new SignalRelay()
  relay.running()
  try {
    const state = ctx.store.read(name)
    const logPath = ctx.store.path(name, 'container.log')
    const fd = openSync(logPath, 'a', 0o600)
    state.logPath = logPath
    let started
    try {
      started = await start(ctx, state, ['ignore', fd, fd])
    } catch (e) {
      send({ error: describe(e) })
      return 1
    } finally {
      closeSync(fd)
    }
    relay.target(started.init, started.launcher)
    send({ started: true })
    if (process.connected) process.disconnect()
    const code = await started.exited
    relay.teardown()
    const errors = await finish(ctx, name, code, false)
    for (const e of errors) process.stderr.write(`berth: supervisor of ${name}: ${e}\n`)
    return errors.length > 0 ? 1 : 0
  } catch (e) {
    send({ error: describe(e) })
    process.stderr.write(`berth: supervisor of ${name}: ${describe(e)}\n`)
    return 1
  } finally {
    relay.dispose()
  }
}
