// Ending a running container and making sure its teardown happened: TERM (or straight KILL), KILL after
// the grace period, then wait for the process supervising it (foreground berth or detached supervisor)
// to tear down; if that process is gone (killed, crashed), the teardown is done here.
import { effectiveStatus, finish, killContainer, type Ctx } from './lifecycle.js'
import { isAlive, signalProcess, waitUntil } from './proc.js'

/** How long a supervisor gets to finish its teardown (CNI DEL of every network) after the command ended. */
const TEARDOWN_WAIT_MS = 60_000

export interface StopOptions {
  /** grace period between TERM and KILL; 0 = KILL at once */
  timeoutMs: number
}

/** Stops `name` if it runs; returns teardown errors (empty when all went well or nothing was running). */
export async function stopContainer(ctx: Ctx, name: string, opts: StopOptions): Promise<string[]> {
  const s = ctx.store.read(name)
  const alive = () => isAlive(s.init) || isAlive(s.launcher)
  if (effectiveStatus(s) === 'running') {
    if (opts.timeoutMs > 0) {
      signalProcess(s.init, 'SIGTERM')
      await waitUntil(() => !alive(), opts.timeoutMs)
    }
    if (alive()) {
      // killing a PID namespace's init kills every process in it
      killContainer(s)
      await waitUntil(() => !alive(), 10_000)
    }
  }
  return settle(ctx, name)
}

/** Waits for the supervisor's teardown; does it here when no supervisor is left. */
export async function settle(ctx: Ctx, name: string): Promise<string[]> {
  const pending = () => {
    const cur = ctx.store.tryRead(name)
    return cur !== undefined && cur.status === 'running'
  }
  await waitUntil(() => {
    const cur = ctx.store.tryRead(name)
    return cur === undefined || cur.status !== 'running' || !isAlive(cur.supervisor)
  }, TEARDOWN_WAIT_MS)
  if (!pending()) return []
  // The supervisor died without recording the end: tear down here (the exit code is unknown).
  return finish(ctx, name, undefined, false)
}
