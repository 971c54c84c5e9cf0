// A berth daemon for a benchmark: `bin/berth daemon` on a socket in a temporary directory, inside the
// benchmark's throw-away host namespace (the shim hands a call back when the caller stands in another
// network namespace than the daemon), its CPU time read from /proc, stopped with SIGTERM at the end, on
// Ctrl-C and on error (harness atCleanup).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { atCleanup, PATH_ENV, sleep, tempDir, type Ns } from './harness.js'

export interface BenchDaemon {
  /** the daemon's own pid (from its "serving" line: a wrapper stands between us and it) */
  pid: number
  socket: string
  /** user + system CPU time of the daemon (all its threads) since it started, ms, to a clock tick */
  cpuMs(): number
  /** calls it served (by verb) and calls it handed back to the shim, from `berth daemon status` */
  served(): { calls: Record<string, number>; fallbacks: Record<string, number> }
  /** the last lines of its log, for error messages */
  logTail(): string
  /** SIGTERM, then waits (8 s at most) for it to exit; resolves with the exit code */
  stop(): Promise<number | null>
}

/**
 * Starts `bin/berth daemon` from `bin` inside `ns` (the caller's own namespace when undefined). It runs
 * under `timeout holdSeconds`, so it ends by itself should the benchmark be SIGKILLed, as the namespace
 * holders do. Its log goes to a file: a pipe left unread during a spawnSync probe would block it.
 */
export async function startBenchDaemon(bin: string, ns: Ns | undefined, holdSeconds: number, what = 'bench'): Promise<BenchDaemon> {
  const dir = tempDir(`berth-bench-daemon-${what}-`)
  const socket = join(dir, 'berthd.sock')
  const logPath = join(dir, 'berthd.log')
  const argv = ['timeout', String(holdSeconds), join(bin, 'berth'), 'daemon', '--socket', socket]
  const logFd = openSync(logPath, 'w')
  let proc: ChildProcess
  try {
    const [cmd, ...args] = ns === undefined ? argv : ['nsenter', `--net=${ns.path}`, '--', ...argv]
    proc = spawn(cmd as string, args, { stdio: ['ignore', 'ignore', logFd], env: { PATH: PATH_ENV } })
  } finally {
    closeSync(logFd)
  }
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  let pid: number | undefined
  // SIGTERM to the daemon itself; to the wrapper (timeout passes it on) while the daemon's pid is unknown.
  atCleanup(() => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(pid ?? (proc.pid as number), 'SIGTERM')
  })
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8')
    } catch {
      return ''
    }
  }
  const logTail = () => log().trimEnd().split('\n').slice(-5).join(' | ')
  const deadline = Date.now() + 30_000
  for (;;) {
    const m = /serving .* on .* \(pid (\d+)\)/.exec(log())
    if (m) {
      pid = Number(m[1])
      break
    }
    if (proc.exitCode !== null) throw new Error(`berth daemon exited with ${proc.exitCode}: ${logTail()}`)
    if (Date.now() > deadline) throw new Error(`berth daemon did not start within 30 s: ${logTail()}`)
    await sleep(20)
  }
  const daemonPid = pid
  return {
    pid: daemonPid,
    socket,
    cpuMs: () => procCpuMs(daemonPid),
    served: () => served(bin, socket),
    logTail,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(daemonPid, 'SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 8000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** utime + stime of a whole process (every thread) in /proc/PID/stat, in ms (clock ticks of 10 ms). */
export function procCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function served(bin: string, socket: string): { calls: Record<string, number>; fallbacks: Record<string, number> } {
  const r = spawnSync(join(bin, 'berth'), ['daemon', 'status', '--socket', socket, '--json'], { encoding: 'utf8', timeout: 30_000, env: { PATH: PATH_ENV } })
  if (r.status !== 0) throw new Error(`berth daemon status failed (${r.status ?? r.signal}): ${r.stderr}`)
  const st = JSON.parse(r.stdout) as { requests: { type: string; verb: string; count: number }[]; fallbacks: Record<string, number> }
  const calls: Record<string, number> = {}
  for (const s of st.requests) calls[`${s.type} ${s.verb}`] = (calls[`${s.type} ${s.verb}`] ?? 0) + s.count
  return { calls, fallbacks: st.fallbacks }
}

/** "bridge ADD 120, bridge DEL 120" — and the fallbacks, which a measured daemon side must not have. */
export function describeServed(s: { calls: Record<string, number>; fallbacks: Record<string, number> }): string {
  const calls = Object.entries(s.calls).map(([k, n]) => `${k} ${n}`).join(', ') || 'no calls'
  const fb = Object.entries(s.fallbacks)
  return fb.length === 0 ? `${calls}; none handed back` : `${calls}; handed back to the shim: ${fb.map(([r, n]) => `${r} ${n}`).join(', ')}`
}
