// `berth rm [-f] NAME...`: removes stopped containers; a running one needs -f (KILL first, as Docker).
// Removal is complete: CNI DEL of every attachment still recorded, the namespace files, and the state
// directory (state, log). If a DEL fails the state stays so `rm` can be retried, unless -f.
import { join } from 'node:path'
import { describe } from '../../pkg/errors/describe.js'
import { CliError } from '../cli-error.js'
import { effectiveStatus, teardown, type Ctx } from '../container/lifecycle.js'
import { removeNamespaceFile } from '../container/namespaces.js'
import { processesInNamespace, waitUntil } from '../container/proc.js'
import { stopContainer } from '../container/stop.js'
import { netnsDir } from '../paths.js'

export interface RmArgs {
  names: string[]
  force: boolean
  print: (line: string) => void
}

export async function rm(a: RmArgs, ctx: Ctx): Promise<number> {
  let failed = 0
  for (const name of a.names) {
    try {
      await rmOne(ctx, name, a.force)
      a.print(name)
    } catch (e) {
      if (a.names.length === 1) throw e
      process.stderr.write(`berth: ${describe(e)}\n`)
      failed++
    }
  }
  return failed > 0 ? 1 : 0
}

async function rmOne(ctx: Ctx, name: string, force: boolean): Promise<void> {
  let state
  try {
    state = ctx.store.tryRead(name)
  } catch (e) {
    // corrupt state: with -f remove what the name alone identifies
    if (!force) throw e
    return forceRemoveUnknown(ctx, name)
  }
  if (state === undefined) {
    if (force && ctx.store.names().includes(name)) return forceRemoveUnknown(ctx, name)
    throw new CliError(`no container named "${name}"`, "see 'berth ps -a'")
  }
  if (effectiveStatus(state) === 'running') {
    if (!force) throw new CliError(`container ${name} is running`, `stop it first ('berth stop ${name}') or use 'berth rm -f ${name}'`)
  }
  const stopErrors = await stopContainer(ctx, name, { timeoutMs: 0 })
  const errors = await ctx.store.locked(name, async (s) => {
    if (s === undefined) return []
    const errs = await teardown(ctx, s)
    if (errs.length === 0 || force) ctx.store.remove(name)
    else ctx.store.write(s)
    return errs
  })
  const all = [...stopErrors, ...errors]
  if (all.length > 0 && !force) throw new CliError(`cannot remove container ${name} completely: ${all.join('; ')}`, `fix the cause and retry, or 'berth rm -f ${name}'`)
  for (const e of all) process.stderr.write(`berth: warning: ${name}: ${e}\n`)
}

/**
 * A container directory without readable state (crash during creation, damaged file): whatever still
 * runs in its UTS namespace (every container has its own) is killed, then its namespace files and
 * directory go. Its CNI attachments cannot be named without the state; `berth cni gc` finds them.
 */
async function forceRemoveUnknown(ctx: Ctx, name: string): Promise<void> {
  const uts = ctx.store.path(name, 'uts')
  for (const pid of processesInNamespace(uts, 'uts')) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await waitUntil(() => processesInNamespace(uts, 'uts').length === 0, 10_000)
  removeNamespaceFile(join(netnsDir(), name))
  removeNamespaceFile(uts)
  ctx.store.remove(name)
}
