// stderr-only logger: stdout belongs to pkg/skel (the CNI result). BERTH_LOG_LEVEL=debug|info|warn|error|silent.
const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const
type Level = keyof typeof levels

function threshold(): number {
  const v = process.env['BERTH_LOG_LEVEL']
  return v !== undefined && v in levels ? levels[v as Level] : levels.warn
}

export interface Log {
  debug(msg: string): void
  info(msg: string): void
  warn(msg: string): void
  error(msg: string): void
}

export function createLog(prefix: string): Log {
  const min = threshold()
  const emit = (lvl: Level) => (msg: string) => {
    if (levels[lvl] >= min) process.stderr.write(`${prefix}: ${lvl}: ${msg}\n`)
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}
