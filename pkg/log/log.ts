// stderr-only logger: stdout belongs to pkg/skel (the CNI result). BERTH_LOG_LEVEL=debug|info|warn|error|silent.
// A process that serves many calls (berth daemon) runs each inside withStderr(), so what a call logs goes
// to that call's stderr at that call's level, not to the process's.
import { AsyncLocalStorage } from 'node:async_hooks'

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const
type Level = keyof typeof levels

export interface StderrSink {
  write(s: string): void
  /** the caller's BERTH_LOG_LEVEL */
  level?: string | undefined
}

const sinks = new AsyncLocalStorage<StderrSink>()

/** Runs fn with every log line and writeStderr() of its async context going to `sink`. */
export function withStderr<T>(sink: StderrSink, fn: () => T): T {
  return sinks.run(sink, fn)
}

/** The current call's stderr: its sink when one is set, else the process's. */
export function writeStderr(s: string): void {
  const sink = sinks.getStore()
  if (sink !== undefined) sink.write(s)
  else process.stderr.write(s)
}

const threshold = (v: string | undefined): number => (v !== undefined && v in levels ? levels[v as Level] : levels.warn)
const processLevel = threshold(process.env['BERTH_LOG_LEVEL'])

export interface Log {
  debug(msg: string): void
  info(msg: string): void
  warn(msg: string): void
  error(msg: string): void
}

export function createLog(prefix: string): Log {
  const emit = (lvl: Level) => (msg: string) => {
    const sink = sinks.getStore()
    const min = sink === undefined ? processLevel : threshold(sink.level)
    if (levels[lvl] >= min) writeStderr(`${prefix}: ${lvl}: ${msg}\n`)
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}
