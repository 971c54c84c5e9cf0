// Ctrl-C or SIGTERM during `rig up`/`add-host` must not leave half a rig: while a build runs, those
// signals only mark it interrupted, and the build checks the mark between steps, so its Rollback runs.
import { constants as osConstants } from 'node:os'
import { CliError } from '../cli-error.js'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export interface InterruptGuard {
  /** Throws (exit code 128+N) once one of the signals has arrived. */
  check(): void
}

export async function withInterruptGuard<T>(fn: (guard: InterruptGuard) => Promise<T>): Promise<T> {
  let got: NodeJS.Signals | undefined
  const handler = (sig: NodeJS.Signals) => {
    got ??= sig
  }
  for (const s of SIGNALS) process.on(s, handler)
  const guard: InterruptGuard = {
    check() {
      if (got !== undefined) throw new CliError(`interrupted by ${got}`, 'nothing was kept', 128 + (osConstants.signals[got] ?? 0))
    },
  }
  try {
    const r = await fn(guard)
    return r
  } finally {
    for (const s of SIGNALS) process.off(s, handler)
  }
}
