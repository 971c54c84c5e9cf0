// Shared harness of the namespace benchmarks (bench/bridge.ts, bench/portmap.ts) and bench/startup.ts:
// tracked children and temporary directories with their clean-up, namespaces held by a sleep process,
// commands inside a namespace, child CPU time, iperf3 pieces and small statistics helpers.
//
// It lives in bench/lib/ so that scripts/build.mjs (which bundles every bench/*.ts as an entry) does not
// make a benchmark of it, and it runs nothing at import: the signal handlers are installed only by
// installCleanup(), which each benchmark calls where it used to register them itself.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { linePlotSvg, type Series } from './svg.js'

/** The PATH of every child: the system directories first, so unshare, nsenter, ip and iperf3 are found. */
export const PATH_ENV = `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${process.env['PATH'] ? `:${process.env['PATH']}` : ''}`

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------------
// Clean-up: every child we start, every temporary directory.

const children = new Set<ChildProcess>()
const tmpDirs: string[] = []
const hooks: (() => void)[] = []
let cleanedUp = false

/**
 * Runs fn in cleanup() before any child is killed or directory removed (latest first), for state that needs
 * them still there: a daemon gets SIGTERM rather than SIGKILL, podman's containers and networks go first.
 */
export function atCleanup(fn: () => void): void {
  hooks.push(fn)
}

/** SIGKILLs a child unless it has already ended. */
export function killChild(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** Runs the atCleanup() hooks, kills every tracked child and removes every temporary directory; runs once. */
export function cleanup(): void {
  if (cleanedUp) return
  cleanedUp = true
  for (const fn of hooks.reverse()) {
    try {
      fn()
    } catch (e) {
      process.stderr.write(`cleanup: ${errMsg(e)}\n`)
    }
  }
  for (const c of children) killChild(c)
  children.clear()
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true })
}

/**
 * Runs cleanup() on exit and on SIGINT / SIGTERM / SIGHUP (then exits with 128 + the signal number).
 * Called by each benchmark, not at import: portmap installs it only in its main mode, not when the
 * same bundle runs as the connection server or client.
 */
export function installCleanup(name: string): void {
  process.on('exit', cleanup)
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(sig, () => {
      process.stderr.write(`${name}: ${sig}, cleaning up\n`)
      cleanup()
      process.exit(128 + n)
    })
  }
}

/** Registers a child for cleanup() (forgotten again when it exits). */
export function track(c: ChildProcess): ChildProcess {
  children.add(c)
  c.once('exit', () => children.delete(c))
  return c
}

/** A new temporary directory (mkdtemp with this prefix in the OS temp dir), removed by cleanup(). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  tmpDirs.push(d)
  return d
}

// ---------------------------------------------------------------------------------------------------
// Namespaces held by a sleep process.

export interface Ns {
  pid: number
  path: string
  proc: ChildProcess
}

/**
 * `count` new network namespaces, each held by an `unshare --net sleep holdSeconds` process (tracked, so
 * killed by cleanup(); the sleep also ends by itself should the bench be SIGKILLed). Resolves once every
 * /proc/PID/ns/net is a namespace other than ours; `deadlineMs` bounds the wait for all of them
 * (bridge.ts uses the default, which grows with the count; portmap.ts waits 30 s for its one).
 * `detached` puts the holders in a process group of their own, so that a Ctrl-C at the terminal does not
 * end them before cleanup() has used them (podman.ts tears its containers down inside them).
 */
export async function newNamespaces(count: number, holdSeconds: number, deadlineMs = 30_000 + count * 20, detached = false): Promise<Ns[]> {
  const ownNet = readlinkSync('/proc/self/ns/net')
  const out: Ns[] = []
  for (let i = 0; i < count; i++) {
    // unshare execs sleep in the same process: /proc/PID/ns/net is the new namespace.
    const proc = track(spawn('unshare', ['--net', 'sleep', String(holdSeconds)], { stdio: 'ignore', env: { PATH: PATH_ENV }, detached }))
    if (proc.pid === undefined) throw new Error('failed to start unshare')
    out.push({ pid: proc.pid, path: `/proc/${proc.pid}/ns/net`, proc })
  }
  const deadline = Date.now() + deadlineMs
  for (const ns of out) {
    for (;;) {
      let link = ''
      try {
        link = readlinkSync(ns.path)
      } catch {
        // not started yet
      }
      if (link !== '' && link !== ownNet) break
      if (ns.proc.exitCode !== null) throw new Error(`unshare --net exited with ${ns.proc.exitCode}`)
      if (Date.now() > deadline) throw new Error('timed out waiting for a namespace')
      await sleep(5)
    }
  }
  return out
}

export function killNs(ns: Ns): void {
  killChild(ns.proc)
}

/** Runs a command inside a namespace; throws with its output on failure. */
export function nsExec(ns: Ns, cmd: string, args: string[], timeout = 20_000): string {
  const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', cmd, ...args], { encoding: 'utf8', timeout, env: { PATH: PATH_ENV } })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns.path} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`)
  return r.stdout
}

/** Starts a long-running command (a server) inside a namespace, output ignored, tracked for cleanup(). */
export function nsSpawn(ns: Ns, cmd: string, args: string[]): ChildProcess {
  return track(spawn('nsenter', [`--net=${ns.path}`, '--', cmd, ...args], { stdio: 'ignore', env: { PATH: PATH_ENV } }))
}

// ---------------------------------------------------------------------------------------------------
// Measuring.

// CPU time of waited-for children (cutime + cstime in /proc/self/stat, clock ticks of 10 ms). Summed
// over runs it is accurate to a tick, and unlike wall time it does not grow when the machine is busy; a
// plugin's own IPAM child is included (the plugin waits for it).
export function childCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[13]) + Number(fields[14])) * 10
}

/** One timed synchronous plugin call. */
export interface Timed {
  ms: number
  cpuMs: number
  stdout: string
}

/** Runs fn on every item, at most `jobs` at a time (at least one). */
export async function pool<T>(items: readonly T[], jobs: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker))
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
export const mean = (xs: readonly number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length)
export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')
export const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-')
/** An error's message, cut to 4 lines and 600 characters for a one-line report. */
export const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 4).join(' | ').slice(0, 600)

// ---------------------------------------------------------------------------------------------------
// Servers and iperf3.

/** Whether process `pid` sees a TCP socket in LISTEN (0A) on `port` in its namespace's /proc/PID/net/tcp{,6}. */
export function listening(pid: number | undefined, port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const f of ['tcp', 'tcp6']) {
    try {
      const lines = readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n')
      if (lines.some((l) => l.split(/\s+/)[2]?.endsWith(hex) && l.split(/\s+/)[4] === '0A')) return true
    } catch {
      // gone or not yet
    }
  }
  return false
}

/** Waits (10 s at most) until server `p` listens on `port`; throws `${what} exited with …` / `${what} did not start`. */
export async function waitListening(p: ChildProcess, port: number, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!listening(p.pid, port)) {
    if (p.exitCode !== null) throw new Error(`${what} exited with ${p.exitCode}`)
    if (Date.now() > deadline) throw new Error(`${what} did not start`)
    await sleep(20)
  }
}

/**
 * One iperf3 client run inside `client`: `iperf3 <target> -t seconds -J --connect-timeout 5000`, where
 * `target` holds the benchmark's own -c / -B / -p arguments. Returns the received rate in Gbit/s; throws
 * `iperf3 ${what}: <error>` when there is no result.
 */
export function iperfClient(client: Ns, target: string[], seconds: number, what: string): number {
  const r = spawnSync('nsenter', [`--net=${client.path}`, '--', 'iperf3', ...target, '-t', String(seconds), '-J', '--connect-timeout', '5000'], {
    encoding: 'utf8',
    timeout: (seconds + 20) * 1000,
    env: { PATH: PATH_ENV },
  })
  const out = r.stdout.trim() === '' ? JSON.stringify({ error: `exit ${r.status ?? r.signal}: ${r.stderr}` }) : r.stdout
  const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } }
  const bps = j.end?.sum_received?.bits_per_second
  if (bps === undefined) throw new Error(`iperf3 ${what}: ${j.error ?? 'no result'}`)
  return bps / 1e9
}

/** One row of a latency table: ADD/DEL at `n` objects already present. */
export interface LatencyRow {
  n: number
  addMs: number
  delMs: number
  /** mean CPU time of one ADD and one DEL */
  addCpu: number
  delCpu: number
  /** wall time to populate from the previous n to this one */
  populateS: number
}

/**
 * Runs `probes` ADD+DEL probes per side, interleaved between the sides so drift on a busy machine hits
 * every side alike, and fills in each side's row for `n` (median wall time, mean CPU time).
 */
export function measureProbes<S extends { name: string }>(
  sides: readonly S[],
  rows: Map<string, LatencyRow[]>,
  n: number,
  probes: number,
  probe: (s: S) => { add: Timed; del: Timed },
): void {
  const samples = new Map<string, { add: Timed[]; del: Timed[] }>(sides.map((s) => [s.name, { add: [], del: [] }]))
  for (let k = 0; k < probes; k++) {
    for (const s of sides) {
      const r = probe(s)
      samples.get(s.name)?.add.push(r.add)
      samples.get(s.name)?.del.push(r.del)
    }
  }
  for (const s of sides) {
    const sm = samples.get(s.name) as { add: Timed[]; del: Timed[] }
    const row = rows.get(s.name)?.find((r) => r.n === n) as LatencyRow
    row.addMs = median(sm.add.map((t) => t.ms))
    row.delMs = median(sm.del.map((t) => t.ms))
    row.addCpu = mean(sm.add.map((t) => t.cpuMs))
    row.delCpu = mean(sm.del.map((t) => t.cpuMs))
  }
}

/**
 * Prints a latency-vs-N table: one line per side at each N (in the order of `sides`), with each side's
 * ratios to `ref` when that side ran; `label` names N ('N' containers, 'M' mappings). A populate time is
 * shown where that side populated its N (sides sharing a network show '-').
 */
export function printLatencyTable(title: string, label: string, rows: Map<string, LatencyRow[]>, sides: readonly string[], ref = 'reference'): void {
  console.log(title)
  const shown = sides.filter((s) => (rows.get(s)?.length ?? 0) > 0)
  const hasRef = shown.includes(ref)
  const w = Math.max(5, ...shown.map((s) => s.length))
  let head = `${label.padStart(6)} | ${'side'.padEnd(w)}    ADD    DEL cpuADD cpuDEL`
  if (hasRef) head += ` | ADD/ref DEL/ref cpu/ref`
  console.log(`${head} | populate s`)
  const ns = [...new Set(shown.flatMap((s) => (rows.get(s) ?? []).map((r) => r.n)))].sort((a, b) => a - b)
  const refRows = rows.get(ref) ?? []
  for (const n of ns) {
    const rr = refRows.find((x) => x.n === n)
    shown.forEach((s, i) => {
      const r = rows.get(s)?.find((x) => x.n === n)
      if (r === undefined) return
      let line = `${(i === 0 ? String(n) : '').padStart(6)} | ${s.padEnd(w)}${f1(r.addMs).padStart(7)}${f1(r.delMs).padStart(7)}${f1(r.addCpu).padStart(7)}${f1(r.delCpu).padStart(7)}`
      if (hasRef) {
        line += rr && s !== ref ? ` | ${ratio(r.addMs, rr.addMs).padStart(7)}${ratio(r.delMs, rr.delMs).padStart(8)}${ratio(r.addCpu + r.delCpu, rr.addCpu + rr.delCpu).padStart(8)}` : ` | ${''.padStart(23)}`
      }
      console.log(`${line} | ${f1(r.populateS)}`)
    })
  }
}

/**
 * The "side <= k x the reference" goals, ADD and DEL wall time (the medians) at each of `at`, one line
 * each with its verdict; returns whether all were met (an N that did not run counts as not met).
 */
export function printRatioGoals(rows: Map<string, LatencyRow[]>, side: string, at: readonly number[], k: number, label: string, ref = 'reference'): boolean {
  let all = true
  for (const n of at) {
    const s = rows.get(side)?.find((r) => r.n === n)
    const r = rows.get(ref)?.find((x) => x.n === n)
    for (const verb of ['ADD', 'DEL'] as const) {
      const [a, b] = verb === 'ADD' ? [s?.addMs, r?.addMs] : [s?.delMs, r?.delMs]
      const x = a !== undefined && b !== undefined ? a / b : NaN
      const ok = x <= k
      all &&= ok
      const detail = Number.isFinite(x) ? `${x.toFixed(2)}x: ${f1(a as number)} vs ${f1(b as number)} ms` : 'not measured'
      console.log(`goal ${side} ${verb} <= ${k}x ${ref} at ${label}=${n}: ${ok ? 'met' : 'NOT met'} (${detail})`)
    }
  }
  return all
}

/** Plot colours of the sides, alike in every benchmark's plot. */
const SIDE_STYLE: Record<string, { color: string; dash?: string }> = {
  'berth+daemon': { color: '#1b7f3b' },
  berth: { color: '#d95f02' },
  reference: { color: '#3b5bdb', dash: '7 4' },
}

/**
 * Writes the ADD and DEL medians of a latency-vs-N table as an SVG with two panels, one line per side
 * (in `sides` order), to bench/results/<file> under `root`; returns its path.
 */
export function writeLatencyPlot(root: string, file: string, title: string, xLabel: string, rows: Map<string, LatencyRow[]>, sides: readonly string[]): string {
  const series = (pick: (r: LatencyRow) => number): Series[] =>
    sides
      .filter((s) => (rows.get(s)?.length ?? 0) > 0)
      .map((s) => ({
        name: s,
        points: [...(rows.get(s) ?? [])].sort((a, b) => a.n - b.n).map((r) => [r.n, pick(r)] as const),
        ...(SIDE_STYLE[s] ?? { color: '#777777' }),
      }))
  const svg = linePlotSvg(title, [
    { title: 'ADD', xLabel, yLabel: 'median wall time (ms)', series: series((r) => r.addMs) },
    { title: 'DEL', xLabel, yLabel: 'median wall time (ms)', series: series((r) => r.delMs) },
  ])
  const dir = join(root, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, file)
  writeFileSync(path, svg)
  return path
}

/** The distinct numbers of a comma-separated environment variable (or its default), ascending: BENCH_N=0,250,1000. */
export const envCounts = (name: string, dflt: string): number[] =>
  [...new Set((process.env[name] ?? dflt).split(',').map((s) => Number(s.trim())))].sort((a, b) => a - b)

// ---------------------------------------------------------------------------------------------------
// Throughput in interleaved rounds.

/**
 * iperf3 -A: client on CPU 0, server on CPU 1 when there are two CPUs or more (BENCH_IPERF_AFFINITY=c,s
 * chooses others, "none" leaves placement to the scheduler). Every path gets the same placement, and the
 * run-to-run spread from the scheduler moving both ends onto one CPU goes away.
 */
export function iperfAffinityArgs(env = process.env['BENCH_IPERF_AFFINITY'], cpus = availableParallelism()): string[] {
  if (env === 'none') return []
  if (env !== undefined && env !== '') {
    if (!/^\d+(,\d+)?$/.test(env)) throw new Error(`BENCH_IPERF_AFFINITY must be "client,server" CPU numbers or "none", not "${env}"`)
    return ['-A', env]
  }
  return cpus >= 2 ? ['-A', '0,1'] : []
}

/** Microseconds that some task has waited for a CPU since boot (PSI, /proc/pressure/cpu), undefined without PSI. */
export function cpuPressureUs(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** One measured path of an interleaved comparison: one run per round, in round order. */
export interface RoundPath {
  label: string
  runs: number[]
  /** per round: the share of the run's wall time during which some task waited for a CPU (NaN without PSI) */
  pressure: number[]
}

/**
 * `rounds` rounds over all paths, alternating the order round by round (forwards, then backwards) so that
 * no path always runs first or right after another. On a shared machine another process that takes one
 * of the CPUs halves a run; PSI sees it as CPU pressure. So a run during which some task waited for a CPU
 * more than `maxPressure` of the time is repeated (`attempts` in all); the round keeps the last attempt,
 * and the reports show every attempt with its pressure.
 */
export async function interleavedRounds<P extends RoundPath>(
  paths: readonly P[],
  opts: { rounds: number; maxPressure: number; attempts: number },
  one: (p: P) => Promise<number>,
  report: (line: string) => void,
): Promise<void> {
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? [...paths] : [...paths].reverse()
    const parts: string[] = []
    for (const p of order) {
      const tries: string[] = []
      for (let attempt = 1; ; attempt++) {
        const psi0 = cpuPressureUs()
        const t0 = process.hrtime.bigint()
        const v = await one(p)
        const psi1 = cpuPressureUs()
        const wallUs = Number(process.hrtime.bigint() - t0) / 1e3
        const pressure = psi0 === undefined || psi1 === undefined ? NaN : (psi1 - psi0) / wallUs
        tries.push(`${v.toFixed(2)}${Number.isNaN(pressure) ? '' : ` (${(pressure * 100).toFixed(0)}%)`}`)
        if (!(pressure > opts.maxPressure) || attempt >= opts.attempts) {
          p.runs.push(v)
          p.pressure.push(pressure)
          break
        }
      }
      parts.push(`${p.label} ${tries.join(' / ')}`)
    }
    report(`round ${round + 1}/${opts.rounds}: ${parts.join(', ')}`)
  }
}

/** Whether round i of a path ran without CPU pressure above `max` (always, without PSI). */
export const calmRound = (p: RoundPath, i: number, max: number) => !((p.pressure[i] ?? NaN) > max)

/** The median of a path's calm runs (see interleavedRounds), or of all its runs when none was calm; and how many it used. */
export function calmMedian(p: RoundPath, maxPressure: number): { median: number; runs: number } {
  const calm = p.runs.filter((_, i) => calmRound(p, i, maxPressure))
  const use = calm.length > 0 ? calm : p.runs
  return { median: median(use), runs: use.length }
}
