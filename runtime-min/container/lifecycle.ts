// Starting, waiting for and tearing down a container whose namespaces and networks are set up.
// The same code serves the foreground `berth run` (which is its own supervisor) and the detached
// supervisor process; `stop` and `rm` use teardown() when no supervisor is left to do it.
import type { ChildProcess, StdioOptions } from 'node:child_process'
import { constants } from 'node:os'
import { describe } from '../../pkg/errors/describe.js'
import type { CniEnv } from '../libcni/types.js'
import { findInit, spawnContainer } from './launch.js'
import { removeNamespaceFile } from './namespaces.js'
import { detach } from './network.js'
import { childrenOf, isAlive, processRef } from './proc.js'
export { killContainer } from './proc.js'
import type { ContainerState, ContainerStore, ProcessRef } from './state.js'

export interface Ctx {
  store: ContainerStore
  cni: CniEnv
}

/**
 * Undoes the container's networking: CNI DEL of each attachment in reverse order, then the network and
 * UTS namespace files. Best effort and idempotent: every step runs; the state is updated in place (a
 * detached attachment is dropped, a failed one kept for a retry) and the errors are returned.
 */
export async function teardown(ctx: Ctx, state: ContainerState): Promise<string[]> {
  const errors: string[] = []
  for (const a of [...state.attachments].reverse()) {
    try {
      await detach(state, a, ctx.cni)
      state.attachments = state.attachments.filter((x) => x !== a)
    } catch (e) {
      errors.push(`CNI DEL of ${a.network} (${a.ifName}) failed: ${e instanceof Error ? e.message : describe(e)}`)
    }
  }
  // 2. the namespaces, after DEL: plugins delete the container's links inside the netns themselves
  if (state.netns !== undefined) {
    try {
      removeNamespaceFile(state.netns)
      delete state.netns
    } catch (e) {
      errors.push(`cannot remove network namespace ${state.netns}: ${describe(e)}`)
    }
  }
  try {
    removeNamespaceFile(state.uts)
  } catch (e) {
    errors.push(`cannot remove UTS namespace ${state.uts}: ${describe(e)}`)
  }
  return errors
}

/** Exit code of a process that ended with (code, signal): the code, or 128+N as shells and Docker do. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0)
  return 255
}

export interface Started {
  child: ChildProcess
  exited: Promise<number>
  init: ProcessRef | undefined
  launcher: ProcessRef | undefined
}

/** Spawns the command and records it as running (init and supervisor PIDs). */
export async function start(ctx: Ctx, state: ContainerState, stdio: StdioOptions): Promise<Started> {
  const child = spawnContainer({ netns: state.netns, uts: state.uts, rootfs: state.rootfs, command: state.command, env: state.env }, stdio)
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(127))
    child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)))
  })
  let running = true
  void exited.then(() => (running = false))
  const pid = child.pid
  const launcher = pid === undefined ? undefined : processRef(pid)
  const init = pid === undefined ? undefined : await findInit(pid, () => running)
  state.status = 'running'
  state.startedAt = new Date().toISOString()
  if (init !== undefined) state.init = init
  if (launcher !== undefined) state.launcher = launcher
  const self = processRef(process.pid)
  if (self !== undefined) state.supervisor = self
  ctx.store.write(state)
  return { child, exited, init, launcher }
}

/**
 * After the command ended: under the container's lock, tear down and record the exit (unless `rm`
 * removed the container meanwhile). `remove` drops the state as well (foreground runs).
 */
export async function finish(ctx: Ctx, name: string, exitCode: number | undefined, remove: boolean): Promise<string[]> {
  return ctx.store.locked(name, async (state) => {
    if (state === undefined) return []
    const errors = await teardown(ctx, state)
    state.status = 'exited'
    state.finishedAt = new Date().toISOString()
    if (exitCode !== undefined) state.exitCode = exitCode
    delete state.init
    delete state.launcher
    delete state.supervisor
    if (remove && errors.length === 0) ctx.store.remove(name)
    else ctx.store.write(state)
    return errors
  })
}

/** The status as it really is: "running" only while the init process (or its launcher) lives. */
export function effectiveStatus(s: ContainerState): ContainerState['status'] {
  // the launcher counts too: under heavy load the init may not have been seen at start
  if (s.status === 'running' && !isAlive(s.init) && !isAlive(s.launcher)) return 'exited'
  return s.status
}

/** The init, as recorded or (when it was not seen at start) found as its launcher's child now. */
export function currentInit(s: ContainerState): ProcessRef | undefined {
  if (isAlive(s.init)) return s.init
  if (s.launcher === undefined || !isAlive(s.launcher)) return undefined
  const [child] = childrenOf(s.launcher.pid)
  return child === undefined ? undefined : processRef(child)
}
