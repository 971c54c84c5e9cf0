// What one plugin call costs a runtime, process and all, in one interleaved run (round-robin, so drift on
// a busy machine hits every candidate alike), side by side with the reference plugins (/usr/lib/cni):
//   - VERSION: berth's shim (bin/bridge) answers it from its compiled-in table; the reference bridge's is a
//     Go process. Goal (the daemon issue): the shim <= 0.5x the reference (median wall time).
//   - a loopback ADD: berth through a `berth daemon` (the shim forwards it), berth standalone (the shim with
//     no daemon on its BERTH_SOCKET, which runs bin/lib/loopback, and bin/lib/loopback itself), the reference.
//     berth+daemon's CPU time includes the daemon's own (/proc/PID/stat around each call).
//   - the Node executable's start against a bare `node -e 0`: bin/lib/loopback's VERSION and the standalone
//     ADD. Goal (issue 2): <= 1.25x `node -e 0` in CPU time.
// The daemon runs in this process's own network namespace (the loopback ADD acts on a namespace of its
// own, made with `ip netns add`) on a socket in a temporary directory, and gets SIGTERM at the end, on
// Ctrl-C and on error.
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync } from 'node:fs'
import { join } from 'node:path'
// CPU time of waited-for children (see the harness): summed over all runs it is accurate to a tick.
import { childCpuMs, cleanup, installCleanup, tempDir } from './lib/harness.js'
import { describeServed, startBenchDaemon, type BenchDaemon } from './lib/daemon.js'

const ROOT = process.cwd()
const RUNS = Number(process.env['BENCH_RUNS'] ?? 100)
const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'

interface Candidate {
  name: string
  cmd: string
  args: string[]
  env: Record<string, string>
  input: string
  times: number[]
  /** CPU time (user + system) of all runs, ms: the process's, and the daemon's when it serves the call */
  cpuMs: number
  daemon?: BenchDaemon
}

async function main(): Promise<void> {
  installCleanup('bench/startup')
  if (!existsSync(join(ROOT, 'bin', 'loopback'))) throw new Error('bin/loopback missing: run npm run build first')
  // A private copy of bin/: a rebuild during the run must not swap executables under the benchmark.
  const bin = tempDir('berth-bench-startup-bin-')
  cpSync(join(ROOT, 'bin'), bin, { recursive: true })
  const daemon = await startBenchDaemon(bin, undefined, 3600, 'startup')
  // berth standalone: a BERTH_SOCKET where no daemon listens (not the default one: another may run there).
  const noDaemon = join(tempDir('berth-bench-startup-'), 'berthd.sock')
  const nsName = `berthbench${randomBytes(3).toString('hex')}`
  execFileSync('ip', ['netns', 'add', nsName])
  try {
    const netns = `/run/netns/${nsName}`
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'loopback' })
    const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }
    const version = { ...base, CNI_COMMAND: 'VERSION' }
    const add = { ...base, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bench', CNI_NETNS: netns, CNI_IFNAME: 'lo', CNI_PATH: bin }
    const c = (name: string, cmd: string, env: Record<string, string>, input: string, d?: BenchDaemon): Candidate => ({
      name,
      cmd,
      args: [],
      env,
      input,
      times: [],
      cpuMs: 0,
      ...(d ? { daemon: d } : {}),
    })
    const cands: Candidate[] = [
      { ...c('node -e 0', process.execPath, base, ''), args: ['-e', '0'] },
      c('berth bridge VERSION (shim)', join(bin, 'bridge'), { ...version, BERTH_SOCKET: noDaemon }, conf),
      c('berth loopback ADD (daemon)', join(bin, 'loopback'), { ...add, BERTH_SOCKET: daemon.socket }, conf, daemon),
      c('berth loopback ADD (shim, no daemon)', join(bin, 'loopback'), { ...add, BERTH_SOCKET: noDaemon }, conf),
      c('berth loopback ADD (lib/loopback)', join(bin, 'lib', 'loopback'), add, conf),
      c('berth loopback VERSION (lib/loopback)', join(bin, 'lib', 'loopback'), version, conf),
    ]
    if (existsSync(join(REF_DIR, 'bridge'))) cands.push(c('reference bridge VERSION', join(REF_DIR, 'bridge'), version, conf))
    if (existsSync(join(REF_DIR, 'loopback'))) cands.push(c('reference loopback ADD', join(REF_DIR, 'loopback'), { ...add, CNI_PATH: REF_DIR }, conf))
    for (const x of cands) runOnce(x) // warm the page cache and the daemon's loopback code
    for (const x of cands) {
      x.times.length = 0
      x.cpuMs = 0
    }
    for (let i = 0; i < RUNS; i++) for (const x of cands) runOnce(x)
    report(cands)
    console.log(`the daemon served: ${describeServed(daemon.served())}`)
  } finally {
    execFileSync('ip', ['netns', 'del', nsName])
    const code = await daemon.stop()
    if (code !== 0) {
      console.log(`FAILED: the daemon exited with ${code} on SIGTERM: ${daemon.logTail()}`)
      process.exitCode = 1
    }
  }
}

function runOnce(c: Candidate): void {
  const cpu0 = childCpuMs() + (c.daemon?.cpuMs() ?? 0)
  const t0 = process.hrtime.bigint()
  const r = spawnSync(c.cmd, c.args, { env: c.env, input: c.input, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${c.name} failed (${r.status}): ${r.stdout}${r.stderr}`)
  c.times.push(ms)
  c.cpuMs += childCpuMs() + (c.daemon?.cpuMs() ?? 0) - cpu0
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
  return { median: q(0.5), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length }
}

function report(cands: Candidate[]): void {
  const base = cands[0] as Candidate
  const baseline = stats(base.times).median
  const baseCpu = base.cpuMs / RUNS
  console.log(`bench/startup: ${RUNS} interleaved runs each; wall time of the whole call (ms) and mean CPU time (user+system, ms; the daemon's included where it served)`)
  console.log('candidate'.padEnd(40) + 'median'.padStart(9) + 'p90'.padStart(9) + '  wall vs node' + 'cpu'.padStart(9) + '  cpu vs node')
  for (const c of cands) {
    const s = stats(c.times)
    const cpu = c.cpuMs / RUNS
    console.log(
      c.name.padEnd(40) + s.median.toFixed(2).padStart(9) + s.p90.toFixed(2).padStart(9) + `${(s.median / baseline).toFixed(2)}x`.padStart(14) +
        cpu.toFixed(2).padStart(9) + `${(cpu / baseCpu).toFixed(2)}x`.padStart(13),
    )
  }
  const find = (n: string) => cands.find((c) => c.name === n)
  const wall = (n: string) => stats(find(n)?.times ?? []).median
  const cpuOf = (n: string) => (find(n)?.cpuMs ?? NaN) / RUNS
  const vs = (a: string, b: string) => `${(wall(a) / wall(b)).toFixed(2)}x wall, ${(cpuOf(a) / cpuOf(b)).toFixed(2)}x CPU`
  if (find('reference bridge VERSION')) {
    const r = wall('berth bridge VERSION (shim)') / wall('reference bridge VERSION')
    console.log(`goal berth VERSION through the shim <= 0.5x the reference bridge's (median wall): ${r <= 0.5 ? 'met' : 'NOT met'} (${vs('berth bridge VERSION (shim)', 'reference bridge VERSION')})`)
  }
  if (find('reference loopback ADD')) {
    for (const n of ['berth loopback ADD (daemon)', 'berth loopback ADD (shim, no daemon)', 'berth loopback ADD (lib/loopback)']) {
      console.log(`${n} / reference loopback ADD: ${vs(n, 'reference loopback ADD')}`)
    }
  }
  console.log(`berth loopback ADD, daemon / no daemon: ${vs('berth loopback ADD (daemon)', 'berth loopback ADD (shim, no daemon)')}`)
  // Judged on CPU time: wall time on a shared 2-core machine mostly measures the neighbours.
  const worst = Math.max(cpuOf('berth loopback VERSION (lib/loopback)'), cpuOf('berth loopback ADD (lib/loopback)')) / baseCpu
  console.log(`goal the Node executable (bin/lib/loopback VERSION and ADD) <= 1.25x node -e 0 (CPU time): ${worst <= 1.25 ? 'met' : 'NOT met'} (worst ${worst.toFixed(2)}x)`)
}

main()
  .catch((e: unknown) => {
    console.error(`bench/startup: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exitCode = 1
  })
  .finally(cleanup)
