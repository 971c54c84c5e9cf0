// `berth logs [-f] NAME`: a detached container's output (stdout and stderr, in order, as one file).
// With -f it keeps printing what is appended until the container stops.
import { closeSync, openSync, readSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError } from '../cli-error.js'
import { effectiveStatus, type Ctx } from '../container/lifecycle.js'

export interface LogsArgs {
  name: string
  follow: boolean
  write: (chunk: Uint8Array) => Promise<void> | void
}

export async function logs(a: LogsArgs, ctx: Ctx): Promise<number> {
  const s = ctx.store.read(a.name)
  if (!s.detached) throw new CliError(`container ${a.name} runs in the foreground: its output goes to the terminal of its 'berth run'`, 'use berth run -d to keep a log')
  const path = s.logPath ?? ctx.store.path(a.name, 'container.log')
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    throw new CliError(`container ${a.name} has no log yet (${path})`, 'try again once it has started')
  }
  try {
    const buf = Buffer.alloc(64 * 1024)
    let pos = 0
    const drain = async () => {
      for (let n = readSync(fd, buf, 0, buf.length, pos); n > 0; n = readSync(fd, buf, 0, buf.length, pos)) {
        pos += n
        await a.write(buf.subarray(0, n))
      }
    }
    await drain()
    while (a.follow) {
      const cur = ctx.store.tryRead(a.name)
      if (cur === undefined || effectiveStatus(cur) !== 'running') break
      await sleep(200)
      await drain()
    }
    await drain()
  } finally {
    closeSync(fd)
  }
  return 0
}
