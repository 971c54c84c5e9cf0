// Does `berth daemon` keep memory it should give back? BENCH_CYCLES (10,000) bridge ADD+DEL cycles with
// host-local IPAM (run in-process by the daemon) and ipMasq, against a daemon in a throw-away host network
// namespace (`nsenter --net=HOST -- bin/berth daemon --socket ...`), with its RSS after every
// BENCH_CHECKPOINT cycles (1,000). Goal: RSS after the last cycle <= 1.1x RSS after the first checkpoint.
//
// The RSS is VmRSS from /proc/PID/status, read after a quiet second (no calls for 1 s, so that V8 can
// finish its concurrent work); the heap used and RSS the daemon reports itself (`berth daemon status
// --json`) are printed beside it. Where the collector happens to be in its cycle moves those figures by
// tens of MiB, so each checkpoint is read again after a full garbage collection (the daemon runs with
// NODE_OPTIONS=--expose-gc, and `berth daemon status --gc` asks for one): what the daemon really retains.
//
// The cycles are driven by a driver process inside the host namespace (this same bundle with --driver:
// the daemon serves only callers in its own network namespace), BENCH_JOBS (4) at a time, each job
// reusing one container namespace with a new container ID per cycle. For speed the driver speaks the
// shim's protocol to the daemon itself (daemon/protocol.ts, as the shim does: HELLO, REQUEST with the
// environment and stdin, RESPONSE); every BENCH_SHIM_EVERY-th cycle (10) goes through the real shim
// bin/bridge instead. The daemon's counters must show every call served by it, none handed back.
//
// At the end nothing may be left: no veth in the host namespace, no interface but lo in the container
// namespaces, no address reservation in host-local's directory, no element of a container in berth's
// nftables table, no attachment record. Everything is removed at the end, also on Ctrl-C.
// BENCH_HEAPSNAPSHOT_DIR=DIR starts the daemon with --heapsnapshot-signal=SIGUSR2 and writes a heap
// snapshot into DIR (kept) at every checkpoint, for finding what retains memory.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { callDaemon } from '../test/helpers/daemon.js'
import { netnsFileKey } from '../pkg/ns/netns.js'
import { cleanup, errMsg, installCleanup, newNamespaces, nsExec, PATH_ENV, sleep, tempDir, track, type Ns } from './lib/harness.js'

const ROOT = process.cwd()
const CYCLES = Number(process.env['BENCH_CYCLES'] ?? 10_000)
const CHECKPOINT = Number(process.env['BENCH_CHECKPOINT'] ?? 1000)
const JOBS = Number(process.env['BENCH_JOBS'] ?? 4)
const SHIM_EVERY = Number(process.env['BENCH_SHIM_EVERY'] ?? 10)
const SNAPSHOT_DIR = process.env['BENCH_HEAPSNAPSHOT_DIR']
const BRIDGE = 'bmem0'
const NETWORK = 'bench-mem'

/** What the driver is told (in BENCH_DRIVER, JSON) and what it answers (one JSON line on stdout). */
interface DriverJob {
  socket: string
  binDir: string
  conf: string
  netns: string[]
  from: number
  to: number
  shimEvery: number
}
interface DriverResult {
  ok: number
  failed: number
  viaShim: number
  firstError?: string
  ms: number
}

// ---------------------------------------------------------------------------------------------------
// The driver, inside the host namespace.

function cniEnv(job: DriverJob, command: 'ADD' | 'DEL', id: string, netns: string): Record<string, string> {
  return { PATH: PATH_ENV, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: job.binDir }
}

/** One call over the daemon's protocol, as the shim makes it; the plugin's exit code and output. */
async function direct(job: DriverJob, env: Record<string, string>): Promise<{ exit: number; out: string }> {
  const { response: r } = await callDaemon(job.socket, { type: 'bridge', exe: join(job.binDir, 'bridge'), env, stdin: job.conf })
  if (r === undefined) throw new Error('the daemon closed the connection without a response')
  if (r.kind === 'fallback') throw new Error(`the daemon handed the call back: ${r.reason}`)
  return { exit: r.exit, out: `${r.stdout.toString()}${r.stderr.toString()}` }
}

/** One call through the real shim (it finds the daemon through BERTH_SOCKET). */
function viaShim(job: DriverJob, env: Record<string, string>): Promise<{ exit: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(join(job.binDir, 'bridge'), [], { env: { ...env, BERTH_SOCKET: job.socket }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ exit: code ?? -1, out }))
    p.stdin.end(job.conf)
  })
}

async function driver(job: DriverJob): Promise<void> {
  const res: DriverResult = { ok: 0, failed: 0, viaShim: 0, ms: 0 }
  const t0 = Date.now()
  let next = job.from
  const worker = async (netns: string) => {
    while (next < job.to) {
      const i = next++
      const id = `bench-mem-${i}`
      const shim = job.shimEvery > 0 && i % job.shimEvery === 0
      const call = shim ? viaShim : direct
      try {
        for (const cmd of ['ADD', 'DEL'] as const) {
          const r = await call(job, cniEnv(job, cmd, id, netns))
          if (r.exit !== 0) throw new Error(`${cmd} ${id} exit ${r.exit}: ${r.out.slice(0, 400)}`)
        }
        res.ok++
        if (shim) res.viaShim++
      } catch (e) {
        res.failed++
        res.firstError ??= errMsg(e)
      }
    }
  }
  await Promise.all(job.netns.map(worker))
  res.ms = Date.now() - t0
  process.stdout.write(`${JSON.stringify(res)}\n`)
}

// ---------------------------------------------------------------------------------------------------
// The bench.

function runDriver(host: Ns, job: DriverJob): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const p = track(spawn('nsenter', [`--net=${host.path}`, '--', process.execPath, process.argv[1] as string, '--driver'], {
      env: { PATH: PATH_ENV, BENCH_DRIVER: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }))
    let out = ''
    let err = ''
    p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)))
    p.on('error', reject)
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`driver exit ${code}: ${err}`))
      resolve(JSON.parse(out) as DriverResult)
    })
  })
}

interface Status {
  pid: number
  rss_bytes: number
  heap_used_bytes?: number
  /** with gc: each V8 space's used and committed bytes */
  v8_spaces?: { space: string; used_bytes: number; committed_bytes: number }[]
  fallbacks: Record<string, number>
  requests: { type: string; verb: string; count: number; codes: Record<string, number> }[]
}

/** The daemon's own status; with `gc`, after a full garbage collection (the daemon runs with --expose-gc). */
function status(binDir: string, socket: string, gc = false): Status {
  const r = spawnSync(join(binDir, 'berth'), ['daemon', 'status', '--json', '--socket', socket, ...(gc ? ['--gc'] : [])], { encoding: 'utf8', timeout: 10_000, env: { PATH: PATH_ENV } })
  if (r.status !== 0) throw new Error(`berth daemon status: ${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout) as Status
}

function vmRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1])
}

const mib = (kib: number) => (kib / 1024).toFixed(1)

/** File-backed (the node binary, libraries) and anonymous (heaps, stacks) resident KiB. */
function rssParts(pid: number): { fileKiB: number; anonKiB: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { fileKiB: kib('Rss') - kib('Anonymous'), anonKiB: kib('Anonymous') }
}

/** Where the RSS after a GC went between two checkpoints: file-backed, V8's committed spaces, the rest (malloc, stacks). */
function explain(a: Checkpoint, b: Checkpoint): string {
  const committed = (p: Checkpoint, name: string) => (p.spaces.find((s) => s.space === name)?.committed_bytes ?? NaN) / 1024
  const used = (p: Checkpoint, name: string) => (p.spaces.find((s) => s.space === name)?.used_bytes ?? NaN) / 1024
  const v8 = (p: Checkpoint) => p.spaces.reduce((n, s) => n + s.committed_bytes, 0) / 1024
  const parts = [`file-backed (node, libraries) ${mib(a.fileKiB)} -> ${mib(b.fileKiB)}`, `V8 committed ${mib(v8(a))} -> ${mib(v8(b))}`]
  for (const sp of ['new_space', 'old_space', 'code_space', 'large_object_space']) {
    parts.push(`  ${sp} committed ${mib(committed(a, sp))} -> ${mib(committed(b, sp))} (used ${mib(used(a, sp))} -> ${mib(used(b, sp))})`)
  }
  parts.push(`other anonymous (malloc, stacks) ${mib(a.anonKiB - v8(a))} -> ${mib(b.anonKiB - v8(b))}`)
  return `RSS after a GC at ${a.cycles} and ${b.cycles} cycles, MiB:\n  ${parts.join('\n  ')}`
}

interface Checkpoint {
  cycles: number
  /** VmRSS after the quiet second, and the daemon's own figures at that moment */
  rssKiB: number
  statusRssKiB: number
  heapKiB: number
  /** the same after a full garbage collection: what is really retained */
  gcRssKiB: number
  gcHeapKiB: number
  /** after the GC: file-backed and anonymous RSS (smaps_rollup), and V8's spaces */
  fileKiB: number
  anonKiB: number
  spaces: NonNullable<Status['v8_spaces']>
  cyclesPerS: number
}

/** What is left of the containers: a list of findings, empty when clean. */
function leftovers(host: Ns, cns: Ns[], dataDir: string, stateDirs: string[]): string[] {
  const found: string[] = []
  const links = JSON.parse(nsExec(host, 'ip', ['-j', 'link', 'show']) || '[]') as { ifname: string; link_type?: string; linkinfo?: { info_kind?: string } }[]
  const veths = JSON.parse(nsExec(host, 'ip', ['-j', '-d', 'link', 'show', 'type', 'veth']) || '[]') as { ifname: string }[]
  if (veths.length > 0) found.push(`${veths.length} veth(s) in the host namespace: ${veths.slice(0, 5).map((l) => l.ifname).join(', ')}`)
  const ports = JSON.parse(nsExec(host, 'ip', ['-j', 'link', 'show', 'master', BRIDGE]) || '[]') as unknown[]
  if (ports.length > 0) found.push(`${ports.length} port(s) on ${BRIDGE}`)
  if (!links.some((l) => l.ifname === BRIDGE)) found.push(`${BRIDGE} is missing (was the bridge ever made?)`)
  for (const ns of cns) {
    const l = (JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show']) || '[]') as { ifname: string }[]).filter((x) => x.ifname !== 'lo')
    if (l.length > 0) found.push(`${ns.path}: ${l.map((x) => x.ifname).join(', ')}`)
  }
  const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name)) : [])
  // host-local keeps a lock and its last reserved address per range; anything else is a reservation (or
  // berth's index of one).
  const reservations = files(join(dataDir, NETWORK)).filter((f) => !/\/(lock|last_reserved_ip\.\d+)$/.test(f))
  if (reservations.length > 0) found.push(`${reservations.length} file(s) in host-local's directory: ${reservations.slice(0, 5).join(', ')}`)
  const records = stateDirs.flatMap(files)
  if (records.length > 0) found.push(`${records.length} attachment record(s): ${records.slice(0, 5).join(', ')}`)
  const ruleset = nsExec(host, 'nft', ['list', 'ruleset'])
  const ids = ruleset.match(/id:bench-mem-\d+/g) ?? []
  if (ids.length > 0) found.push(`${ids.length} nftables entries of containers (${ids.slice(0, 3).join(', ')})`)
  return found
}

async function main(): Promise<void> {
  installCleanup('bench/daemon-memory')
  if (!existsSync(join(ROOT, 'bin', 'bridge')) || !existsSync(join(ROOT, 'bin', 'berth'))) throw new Error('bin/ not built: run npm run build first')
  if (!(CYCLES >= CHECKPOINT && CHECKPOINT > 0 && JOBS > 0)) throw new Error('BENCH_CYCLES >= BENCH_CHECKPOINT > 0 and BENCH_JOBS > 0, please')
  const tmp = tempDir('berth-bench-mem-')
  // A private copy of bin/: a rebuild during the run must not swap executables under the bench.
  const binDir = join(tmp, 'bin')
  cpSync(join(ROOT, 'bin'), binDir, { recursive: true })
  const dataDir = join(tmp, 'ipam')
  const socket = join(tmp, 'berthd.sock')
  const [host, ...cns] = await newNamespaces(1 + JOBS, 3600)
  if (host === undefined) throw new Error('no host namespace')
  nsExec(host, 'ip', ['link', 'set', 'lo', 'up'])
  // berth's records of the throw-away host's attachments live in /run, keyed by its namespace.
  const stateDirs = [join('/run/berth/bridge', netnsFileKey(host.path))]
  // A new namespace may reuse a dead one's inode, and so find that one's records: not this run's leftovers.
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true })
  process.on('exit', () => {
    for (const d of stateDirs) rmSync(d, { recursive: true, force: true })
  })

  if (SNAPSHOT_DIR !== undefined) mkdirSync(SNAPSHOT_DIR, { recursive: true })
  const daemon = track(
    spawn('nsenter', [`--net=${host.path}`, '--', join(binDir, 'berth'), 'daemon', '--socket', socket], {
      env: { PATH: PATH_ENV, NODE_OPTIONS: `--expose-gc${SNAPSHOT_DIR !== undefined ? ' --heapsnapshot-signal=SIGUSR2' : ''}` },
      cwd: SNAPSHOT_DIR ?? tmp,
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  )
  // One log line per call: keep only the tail, for an error message.
  let tail = ''
  daemon.stderr?.setEncoding('utf8').on('data', (c: string) => (tail = (tail + c).slice(-4000)))
  for (const deadline = Date.now() + 20_000; !/serving .* on /.test(tail); await sleep(20)) {
    if (daemon.exitCode !== null || Date.now() > deadline) throw new Error(`berth daemon did not start: ${tail}`)
  }
  const pid = status(binDir, socket).pid

  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: NETWORK,
    type: 'bridge',
    bridge: BRIDGE,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.240.0.0/16', dataDir, routes: [{ dst: '0.0.0.0/0' }] },
  })
  const load0 = loadavg()
  console.log(
    `bench/daemon-memory: ${CYCLES} bridge+host-local ADD/DEL cycles (ipMasq) against berth daemon pid ${pid} in a throw-away host namespace, ` +
      `${JOBS} at a time, every ${SHIM_EVERY > 0 ? `${SHIM_EVERY}th` : '(none)'} through the shim bin/bridge, the rest over the daemon's protocol; ` +
      `load average ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  )
  const startRss = vmRssKiB(pid)
  console.log(`RSS before the first call: ${mib(startRss)} MiB`)
  console.log('MiB after the quiet second (VmRSS, the daemon\'s status rss and heap used), then after a full GC (VmRSS, heap used)')
  console.log('cycles'.padStart(7) + '   VmRSS' + '  status' + '    heap' + ' | GC: VmRSS' + '    heap' + '  cycles/s' + '  VmRSS vs first (GC)')
  const points: Checkpoint[] = []
  let failed = 0
  let viaShim = 0
  for (let done = 0; done < CYCLES; ) {
    const to = Math.min(CYCLES, done + CHECKPOINT)
    const r = await runDriver(host, { socket, binDir, conf, netns: cns.map((n) => n.path), from: done, to, shimEvery: SHIM_EVERY })
    failed += r.failed
    viaShim += r.viaShim
    if (r.firstError !== undefined) process.stderr.write(`bench/daemon-memory: cycles ${done}-${to}: ${r.failed} failed, first: ${r.firstError}\n`)
    done = to
    // The quiet second: no calls, so the numbers are not caught mid-call.
    await sleep(1000)
    const rssKiB = vmRssKiB(pid)
    const st = status(binDir, socket)
    const gc = status(binDir, socket, true)
    const p: Checkpoint = {
      cycles: done,
      rssKiB,
      statusRssKiB: st.rss_bytes / 1024,
      heapKiB: (st.heap_used_bytes ?? NaN) / 1024,
      gcRssKiB: vmRssKiB(pid),
      gcHeapKiB: (gc.heap_used_bytes ?? NaN) / 1024,
      ...rssParts(pid),
      spaces: gc.v8_spaces ?? [],
      cyclesPerS: (r.ok + r.failed) / (r.ms / 1000),
    }
    points.push(p)
    const first = points[0] as Checkpoint
    console.log(
      String(done).padStart(7) + mib(p.rssKiB).padStart(8) + mib(p.statusRssKiB).padStart(8) + mib(p.heapKiB).padStart(8) + ' |' + mib(p.gcRssKiB).padStart(10) + mib(p.gcHeapKiB).padStart(8) +
        p.cyclesPerS.toFixed(0).padStart(10) + `${(p.rssKiB / first.rssKiB).toFixed(3)}x (${(p.gcRssKiB / first.gcRssKiB).toFixed(3)}x)`.padStart(21),
    )
    if (SNAPSHOT_DIR !== undefined) {
      process.kill(pid, 'SIGUSR2')
      await sleep(3000)
    }
  }

  const first = points[0] as Checkpoint
  const last = points[points.length - 1] as Checkpoint
  const growth = last.rssKiB / first.rssKiB
  const gcGrowth = last.gcRssKiB / first.gcRssKiB
  const ok = (x: number) => (x <= 1.1 ? 'met' : 'NOT met')
  console.log(
    `goal RSS after ${last.cycles} cycles <= 1.1x RSS after ${first.cycles}: after the quiet second ${ok(growth)} (${growth.toFixed(3)}x: ${mib(first.rssKiB)} -> ${mib(last.rssKiB)} MiB), ` +
      `after a full GC ${ok(gcGrowth)} (${gcGrowth.toFixed(3)}x: ${mib(first.gcRssKiB)} -> ${mib(last.gcRssKiB)} MiB); heap used after GC ${mib(first.gcHeapKiB)} -> ${mib(last.gcHeapKiB)} MiB`,
  )
  console.log(explain(first, last))
  // Every cycle must have been served by the daemon: an ADD and a DEL of the bridge each, none handed back.
  const st = status(binDir, socket)
  const served = (verb: string) => st.requests.find((r) => r.type === 'bridge' && r.verb === verb)?.codes['0'] ?? 0
  const fb = Object.entries(st.fallbacks)
  console.log(
    `daemon served bridge ADD ${served('ADD')}/${CYCLES}, DEL ${served('DEL')}/${CYCLES} (${viaShim} cycles through the shim); failed cycles ${failed}; ` +
      `handed back: ${fb.length === 0 ? 'none' : fb.map(([k, v]) => `${k} ${v}`).join(', ')}`,
  )
  const left = leftovers(host, cns, dataDir, stateDirs)
  console.log(left.length === 0 ? 'nothing left: no veth, no interface in the container namespaces, no reservation, no nftables element, no record' : `LEFT BEHIND: ${left.join('; ')}`)
  console.log(`load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  if (failed > 0 || left.length > 0 || served('ADD') !== CYCLES || served('DEL') !== CYCLES || fb.length > 0) process.exitCode = 1
  if (SNAPSHOT_DIR !== undefined) console.log(`heap snapshots (one per checkpoint) in ${SNAPSHOT_DIR}`)
}

if (process.argv[2] === '--driver') {
  driver(JSON.parse(process.env['BENCH_DRIVER'] ?? '{}') as DriverJob).catch((e: unknown) => {
    process.stderr.write(`driver: ${errMsg(e)}\n`)
    process.exit(1)
  })
} else {
  main()
    .catch((e: unknown) => {
      console.error(`bench/daemon-memory: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      process.exitCode = 1
    })
    .finally(() => cleanup())
}
