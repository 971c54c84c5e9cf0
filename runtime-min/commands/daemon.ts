// `berth daemon`: serve every berth CNI type from one resident process behind the shims (daemon/), until
// SIGTERM or SIGINT; then finish the calls in flight and exit within 5 s. `status` and `metrics` ask a
// running daemon over its socket.
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_SOCKET, Daemon, control } from '../../daemon/server.js'
import { servedPlugins } from '../../daemon/plugins.js'
import { berthBuildId as buildId } from '../../pkg/build-info/build-info.js'
import { CliError } from '../cli-error.js'


export interface DaemonArgs {
  socket: string | undefined
  maxInFlight: number
  workers: number
  requestDeadlineMs: number
  queueDeadlineMs: number
  metricsListen: string | undefined
  version: string
}

export const socketPath = (given: string | undefined, env = process.env): string => given ?? (env['BERTH_SOCKET'] || DEFAULT_SOCKET)

/** systemd socket activation: the first inherited descriptor, when it was passed to this very process. */
function inheritedListener(env = process.env): number | undefined {
  if (env['LISTEN_PID'] !== String(process.pid)) return undefined
  return Number(env['LISTEN_FDS'] ?? '0') >= 1 ? 3 : undefined
}

const log = (line: string) => void process.stderr.write(`${line}\n`)

/** The launcher of this very bundle (bin/lib/berth beside bin/lib/berth.js): what a namespace worker runs. */
function workerScript(): string | undefined {
  const launcher = join(dirname(fileURLToPath(import.meta.url)), 'berth')
  return existsSync(launcher) ? launcher : undefined
}

export async function runDaemon(a: DaemonArgs): Promise<void> {
  // stdout is nobody's channel here; a library that prints must not look like an answer.
  console.log = console.error
  console.info = console.error
  const listenFd = inheritedListener()
  const script = workerScript()
  const daemon = new Daemon({
    socketPath: socketPath(a.socket),
    build: buildId(),
    version: a.version,
    plugins: servedPlugins(),
    maxInFlight: a.maxInFlight,
    requestDeadlineMs: a.requestDeadlineMs,
    queueDeadlineMs: a.queueDeadlineMs,
    log,
    ...(listenFd !== undefined ? { listenFd } : {}),
    ...(script !== undefined ? { workerScript: script, maxWorkers: a.workers } : {}),
  })
  // A verb that throws outside its promise chain must not take every other call down with it.
  process.on('uncaughtException', (e) => log(`berthd: uncaught exception (serving on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`))
  process.on('unhandledRejection', (e) => log(`berthd: unhandled rejection (serving on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`))
  try {
    await daemon.start()
  } catch (e) {
    throw new CliError(`cannot start the daemon: ${e instanceof Error ? e.message : String(e)}`, 'stop the other daemon, or give another --socket')
  }
  const metrics = a.metricsListen === undefined ? undefined : await serveMetrics(a.metricsListen, () => daemon.prometheus())
  log(`berthd: build ${buildId()} serving ${[...servedPlugins().keys()].join(', ')} on ${listenFd !== undefined ? 'an inherited socket' : socketPath(a.socket)} (pid ${process.pid})`)
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`berthd: ${sig}: finishing the calls in flight`)
      // Whatever happens, the process is gone within 5 s of the signal.
      setTimeout(() => process.exit(0), 5000).unref()
      metrics?.close()
      void daemon.stop(4500).then(resolve)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  log('berthd: stopped')
  process.exit(0)
}

function serveMetrics(addr: string, text: () => string): Promise<ReturnType<typeof createServer>> {
  const m = /^(.*):(\d+)$/.exec(addr)
  const port = Number(m?.[2])
  if (m === null || !(port > 0 && port < 65536)) throw new CliError(`--metrics-listen ${addr}: expected HOST:PORT`, 'e.g. --metrics-listen 127.0.0.1:9750')
  const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1')
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text())
  })
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new CliError(`--metrics-listen ${addr}: ${e.message}`, 'choose a free port')))
    server.listen(port, host, () => resolve(server))
  })
}

export async function daemonControl(command: 'status' | 'metrics' | 'gc', socket: string | undefined, json: boolean): Promise<string> {
  const path = socketPath(socket)
  let text: string
  try {
    text = await control(path, command)
  } catch (e) {
    throw new CliError(`no berth daemon answers on ${path}: ${e instanceof Error ? e.message : String(e)}`, "start one with 'berth daemon'")
  }
  const error = command === 'gc' ? (JSON.parse(text) as { error?: string }).error : undefined
  if (error !== undefined) throw new CliError(error, 'restart the daemon with NODE_OPTIONS=--expose-gc')
  if (command === 'metrics' || json) return text
  return formatStatus(JSON.parse(text) as import('../../daemon/metrics.js').DaemonStatus)
}

function formatStatus(s: import('../../daemon/metrics.js').DaemonStatus): string {
  const lines = [
    `pid ${s.pid}, build ${s.build} (berth ${s.version}), socket ${s.socket}`,
    `uptime ${s.uptime_s} s, in flight ${s.in_flight}/${s.max_in_flight}, queued ${s.queued}, rss ${(s.rss_bytes / 1048576).toFixed(1)} MiB, heap used ${(s.heap_used_bytes / 1048576).toFixed(1)} MiB`,
  ]
  const w = s.workers
  if (w.running > 0 || w.served > 0) lines.push(`worker threads ${w.running} (${w.busy} busy), calls run on them ${w.served}`)
  const fb = Object.entries(s.fallbacks)
  if (fb.length > 0) lines.push(`handed back to the shim: ${fb.map(([r, n]) => `${r} ${n}`).join(', ')}`)
  if (s.requests.length === 0) lines.push('no calls served yet')
  else {
    lines.push('TYPE           VERB    CALLS   ERRORS  P50 MS  P90 MS  P99 MS')
    for (const r of s.requests) {
      const errors = Object.entries(r.codes).reduce((n, [c, k]) => (c === '0' ? n : n + k), 0)
      lines.push(
        `${r.type.padEnd(14)} ${r.verb.padEnd(7)} ${String(r.count).padStart(5)} ${String(errors).padStart(8)} ${r.p50_ms.toFixed(2).padStart(7)} ${r.p90_ms.toFixed(2).padStart(7)} ${r.p99_ms.toFixed(2).padStart(7)}`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}
