// `berth stop NAME...`: TERM, then KILL after the grace period (-t, default 10 s, as Docker); the
// supervisor tears the networking down and the container stays listed (exited) until `berth rm`.
// A foreground container is removed entirely by its own `berth run` once it ends.
import { CliError } from '../cli-error.js'
import type { Ctx } from '../container/lifecycle.js'
import { stopContainer } from '../container/stop.js'

export interface StopArgs {
  names: string[]
  time: number
  print: (line: string) => void
}

export async function stop(a: StopArgs, ctx: Ctx): Promise<number> {
  if (!Number.isFinite(a.time) || a.time < 0) throw new CliError(`invalid --time ${a.time}`, 'give the grace period in seconds, 0 or more')
  let failed = 0
  for (const name of a.names) {
    try {
      const errors = await stopContainer(ctx, name, { timeoutMs: a.time * 1000 })
      if (errors.length > 0) throw new CliError(`container ${name} stopped, but its teardown failed: ${errors.join('; ')}`, `retry with 'berth rm -f ${name}'`)
      a.print(name)
    } catch (e) {
      if (a.names.length === 1) throw e
      process.stderr.write(`berth: ${(e as Error).message}\n`)
      failed++
    }
  }
  return failed > 0 ? 1 : 0
}
