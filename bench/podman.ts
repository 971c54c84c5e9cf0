// What a network costs `podman run --rm`: the wall time of
//   podman run --rm --network NET -p HOSTPORT:80 IMAGE true
// minus that of the same command with `--network none`, for four network stacks under podman 4.3:
//   berth+daemon  the CNI backend with berth's bin/, `berth daemon` serving the shims (BERTH_SOCKET)
//   berth         the same bin/ with no daemon answering: every call is a Node process of its own
//   reference     the CNI backend with the reference plugins (/usr/lib/cni, CNI_REFERENCE_DIR)
//   netavark      podman's own Rust backend (network_backend = "netavark")
// podman's CNI networks call bridge (host-local), portmap, firewall and tuning; the netavark network is
// the same bridge with a published port. DNS is off on every network (netavark's needs aardvark-dns,
// which is not installed; no dnsname plugin is in either CNI directory).
//
// Goals: berth+daemon adds <= 0.5x what the reference adds, and no more than netavark adds.
//
// Each stack has its own private podman configuration and storage (CONTAINERS_CONF, ..., as in
// test/integration/podman.ts) and its own throw-away host network namespace: podman, conmon, the
// plugins and the daemon all run under `nsenter --net=HOST`, so bridges, nftables/iptables rules and
// forwarding sysctls live and die with it and the machine's own namespace (shared with other engineers'
// tests) is untouched. What stays on the machine's filesystem is removed at the end, also on Ctrl-C:
// host-local's /var/lib/cni/networks/NET, libcni's cached results, and netavark's IPAM database in
// /run/containers/networks, which podman 4.3 fixes for every rootful podman (only when the bench made it).
//
// BERTH_SOCKET reaches the shims twice: in podman's own environment (the ADDs of `podman run`), and in
// containers.conf `[engine] env`, because the DELs of `podman run --rm` are run by the `podman container
// cleanup` that conmon starts when the container exits, and conmon passes on CONTAINERS_CONF but not the
// rest of podman's environment. The bench checks the daemon's counters: every ADD and every DEL of the
// berth+daemon stack must have been served by it.
//
// Runs are interleaved: each round runs every (stack, none|network) pair once, in an order that reverses
// every round; a run during which some task waited for a CPU more than BENCH_MAX_CPU_PRESSURE of the time
// (PSI) is repeated (BENCH_ATTEMPTS in all) and left out of the medians if it stays so.
// Knobs: BENCH_ROUNDS (15), BENCH_WARMUP (2 runs per pair, not counted), BENCH_SIDES (a comma list of
// the four names), BENCH_HOST_PORT (18080).
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import {
  atCleanup,
  calmMedian,
  calmRound,
  cleanup,
  errMsg,
  f1,
  installCleanup,
  interleavedRounds,
  median,
  newNamespaces,
  nsExec,
  PATH_ENV,
  ratio,
  sleep,
  tempDir,
  track,
  type Ns,
  type RoundPath,
} from './lib/harness.js'
import { busyboxTarball, onPath, privatePodman, staticBusybox, unmountUnder } from '../test/helpers/podman.js'

const ROOT = process.cwd()
const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15)
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 2)
const HOST_PORT = Number(process.env['BENCH_HOST_PORT'] ?? 18080)
const MAX_PRESSURE = Number(process.env['BENCH_MAX_CPU_PRESSURE'] ?? 0.5)
const ATTEMPTS = Number(process.env['BENCH_ATTEMPTS'] ?? 2)
const SIDE_NAMES = ['berth+daemon', 'berth', 'reference', 'netavark'] as const
type SideName = (typeof SIDE_NAMES)[number]
const WANTED = new Set((process.env['BENCH_SIDES'] ?? SIDE_NAMES.join(',')).split(',').map((s) => s.trim()))
// podman 4.3's helper_binaries_dir default, where it looks for netavark.
const NETAVARK_DIRS = ['/usr/local/libexec/podman', '/usr/local/lib/podman', '/usr/libexec/podman', '/usr/lib/podman']
const CNI_NETWORKS = '/var/lib/cni/networks'
const CNI_RESULTS = '/var/lib/cni/results'
// Rootful podman 4.3 gives netavark this run directory whatever the configuration says.
const NETAVARK_RUN = '/run/containers/networks'
// The CNI types podman's conflist calls; the daemon must have served ADD and DEL of each.
const CHAIN = ['bridge', 'portmap', 'firewall', 'tuning']

installCleanup('bench/podman')

interface Side {
  name: SideName
  dir: string
  host: Ns
  net: string
  env: Record<string, string>
  none: RoundPath
  withNet: RoundPath
  /** network runs made, warm-up and repeats included: the daemon's expected call count */
  netRuns: number
}

/** podman inside the side's host namespace, with its private configuration. */
function podmanArgv(s: Side, args: string[]): string[] {
  return [`--net=${s.host.path}`, '--', 'podman', ...args]
}

function podmanSync(s: Side, args: string[], timeout = 120_000): string {
  const r = spawnSync('nsenter', podmanArgv(s, args), { env: s.env, encoding: 'utf8', timeout })
  if (r.status !== 0) throw new Error(`${s.name}: podman ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}\n${r.stdout}${r.stderr}`)
  return r.stdout.trim()
}

/** One timed podman command (asynchronous, so Ctrl-C is handled at once); wall ms. */
function podmanTimed(s: Side, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const p = track(spawn('nsenter', podmanArgv(s, args), { env: s.env, stdio: ['ignore', 'ignore', 'pipe'] }))
    let stderr = ''
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      if (code === 0) resolve(ms)
      else reject(new Error(`${s.name}: podman ${args.join(' ')}: exit ${code ?? signal}\n${stderr}`))
    })
  })
}

/** `berth daemon` in the host namespace on its own socket; resolves once it serves. */
async function startDaemon(host: Ns, binDir: string, socket: string): Promise<void> {
  // Detached like the namespace holders: a Ctrl-C must not stop it before cleanup() has torn the containers down.
  const d = track(spawn('nsenter', [`--net=${host.path}`, '--', join(binDir, 'berth'), 'daemon', '--socket', socket], { env: { PATH: PATH_ENV }, stdio: ['ignore', 'ignore', 'pipe'], detached: true }))
  // It logs a line per call: keep only the tail, for an error message.
  let tail = ''
  d.stderr?.setEncoding('utf8').on('data', (c: string) => (tail = (tail + c).slice(-4000)))
  const deadline = Date.now() + 20_000
  while (!/serving .* on /.test(tail)) {
    if (d.exitCode !== null) throw new Error(`berth daemon exited with ${d.exitCode}: ${tail}`)
    if (Date.now() > deadline) throw new Error(`berth daemon did not start: ${tail}`)
    await sleep(20)
  }
}

interface DaemonStatusJson {
  fallbacks: Record<string, number>
  requests: { type: string; verb: string; count: number; codes: Record<string, number>; p50_ms: number }[]
}

function daemonStatus(binDir: string, socket: string): DaemonStatusJson {
  const r = spawnSync(join(binDir, 'berth'), ['daemon', 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 10_000, env: { PATH: PATH_ENV } })
  if (r.status !== 0) throw new Error(`berth daemon status: ${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout) as DaemonStatusJson
}

function netavarkFound(): boolean {
  return NETAVARK_DIRS.some((d) => existsSync(join(d, 'netavark')))
}

async function main(): Promise<void> {
  const busybox = staticBusybox()
  for (const [ok, why] of [
    [existsSync(join(ROOT, 'bin', 'bridge')) && existsSync(join(ROOT, 'bin', 'berth')), 'bin/ not built: run npm run build first'],
    [onPath('podman'), 'podman not installed (scripts/setup installs podman, runc and busybox-static)'],
    [onPath('runc'), 'runc not installed'],
    [busybox !== undefined, 'no static busybox (apt-get install busybox-static) for the image'],
  ] as const) {
    if (!ok) throw new Error(why)
  }
  const names = SIDE_NAMES.filter((n) => WANTED.has(n)).filter((n) => {
    if (n === 'reference' && !CHAIN.concat('host-local').every((p) => existsSync(join(REF_DIR, p)))) {
      process.stderr.write(`bench/podman: no reference plugins in ${REF_DIR}: left out\n`)
      return false
    }
    if (n === 'netavark' && !netavarkFound()) {
      process.stderr.write(`bench/podman: netavark not found in ${NETAVARK_DIRS.join(', ')}: left out\n`)
      return false
    }
    return true
  })
  if (names.length === 0) throw new Error(`BENCH_SIDES=${process.env['BENCH_SIDES'] ?? ''}: no stack to measure`)

  const tag = randomBytes(3).toString('hex')
  const tmp = tempDir('berth-podbench-')
  // Shared state podman and host-local keep outside the private directories: removed at the end when the
  // bench made it (and nothing else has put files there since).
  const cniStateExisted = existsSync('/var/lib/cni')
  const containersRunExisted = existsSync('/run/containers')
  const netavarkRunExisted = existsSync(NETAVARK_RUN)
  const sides: Side[] = []
  atCleanup(() => {
    if (!cniStateExisted && filesUnder('/var/lib/cni').length === 0) rmSync('/var/lib/cni', { recursive: true, force: true })
    if (!netavarkRunExisted && existsSync(NETAVARK_RUN) && readdirSync(NETAVARK_RUN).every((f) => f === 'ipam.db')) rmSync(NETAVARK_RUN, { recursive: true, force: true })
    if (!containersRunExisted && existsSync('/run/containers') && readdirSync('/run/containers').length === 0) rmSync('/run/containers', { recursive: true, force: true })
  })

  // A private copy of bin/: a rebuild during the run must not swap executables under the bench.
  const binDir = join(tmp, 'bin')
  cpSync(join(ROOT, 'bin'), binDir, { recursive: true })
  const tarball = busyboxTarball(tmp, busybox as string, ['sh', 'true'])
  const image = `localhost/berth-podbench:${tag}`
  const hosts = await newNamespaces(names.length, 3600, undefined, true)
  const daemonSocket = join(tmp, 'berthd.sock')

  for (const [i, name] of names.entries()) {
    const host = hosts[i] as Ns
    nsExec(host, 'ip', ['link', 'set', 'lo', 'up'])
    const dir = join(tmp, name.replace('+', '-'))
    // berth without a daemon gets a socket path nothing listens on: a daemon of someone else's on the
    // default socket must not serve it (it would hand the calls back anyway: another namespace).
    const socket = name === 'berth+daemon' ? daemonSocket : name === 'berth' ? join(tmp, 'no-daemon.sock') : undefined
    const conf = privatePodman(dir, {
      backend: name === 'netavark' ? 'netavark' : 'cni',
      ...(name === 'netavark' ? {} : { pluginDirs: [name === 'reference' ? REF_DIR : binDir] }),
      subnetPool: `10.191.${i}.0/24`,
      ...(socket !== undefined ? { engineEnv: [`BERTH_SOCKET=${socket}`] } : {}),
    })
    const env: Record<string, string> = {
      PATH: PATH_ENV,
      HOME: process.env['HOME'] ?? '/root',
      CONTAINERS_CONF: conf.CONTAINERS_CONF,
      CONTAINERS_STORAGE_CONF: conf.CONTAINERS_STORAGE_CONF,
      CONTAINERS_REGISTRIES_CONF: conf.CONTAINERS_REGISTRIES_CONF,
      ...(socket !== undefined ? { BERTH_SOCKET: socket } : {}),
    }
    const s: Side = {
      name,
      dir,
      host,
      net: `bpb-${tag}-${i}`,
      env,
      none: { label: `${name} none`, runs: [], pressure: [] },
      withNet: { label: `${name} net`, runs: [], pressure: [] },
      netRuns: 0,
    }
    sides.push(s)
    atCleanup(() => teardownSide(s))
    if (name === 'berth+daemon') await startDaemon(host, binDir, daemonSocket)
    podmanSync(s, ['import', tarball, image])
    podmanSync(s, ['network', 'create', '--disable-dns', '--subnet', `10.190.${i}.0/24`, s.net])
    if (s.name !== 'netavark') {
      const types = (JSON.parse(readFileSync(join(conf.netDir, `${s.net}.conflist`), 'utf8')) as { plugins: { type: string }[] }).plugins.map((p) => p.type)
      if (types.join(',') !== CHAIN.join(',')) throw new Error(`${s.name}: podman wrote the chain ${types.join(', ')}, expected ${CHAIN.join(', ')}`)
    }
  }

  const load0 = loadavg()
  console.log(
    `bench/podman: podman run --rm with --network NET -p ${HOST_PORT}:80 against --network none (IMAGE true), ` +
      `${ROUNDS} interleaved rounds (+${WARMUP} warm-up runs per pair); stacks: ${names.join(', ')}; ` +
      `each in its own throw-away host namespace; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  )
  const one = async (p: RoundPath): Promise<number> => {
    const s = sides.find((x) => x.none === p || x.withNet === p) as Side
    if (p === s.none) return podmanTimed(s, ['run', '--rm', '--network', 'none', image, 'true'])
    s.netRuns++
    return podmanTimed(s, ['run', '--rm', '--network', s.net, '-p', `${HOST_PORT}:80`, image, 'true'])
  }
  const paths = sides.flatMap((s) => [s.none, s.withNet])
  for (let w = 0; w < WARMUP; w++) for (const p of paths) await one(p)
  await interleavedRounds(paths, { rounds: ROUNDS, maxPressure: MAX_PRESSURE, attempts: ATTEMPTS }, one, (line) => process.stderr.write(`bench/podman: ${line}\n`))
  const load1 = loadavg()

  report(sides)
  console.log(`load average at the start ${load0.map((x) => x.toFixed(2)).join(' ')}, at the end ${load1.map((x) => x.toFixed(2)).join(' ')}`)

  const d = sides.find((s) => s.name === 'berth+daemon')
  if (d !== undefined) checkDaemonServed(d, daemonStatus(binDir, daemonSocket))
}

function report(sides: Side[]): void {
  const added = new Map<SideName, number>()
  console.log(`\nwall ms of podman run --rm (median of the calm runs; CPU pressure <= ${(MAX_PRESSURE * 100).toFixed(0)}%, * = not calm)`)
  console.log('stack'.padEnd(14) + 'none'.padStart(8) + 'network'.padStart(9) + 'adds'.padStart(8) + '  paired' + '  runs none | network')
  for (const s of sides) {
    const none = calmMedian(s.none, MAX_PRESSURE).median
    const net = calmMedian(s.withNet, MAX_PRESSURE).median
    // The same difference taken round by round: the two runs of a pair are neighbours in time, so drift
    // in the machine's load cancels; a check on the difference of the medians.
    const paired = median(s.withNet.runs.map((v, i) => v - (s.none.runs[i] ?? NaN)).filter(Number.isFinite))
    added.set(s.name, net - none)
    const runs = (p: RoundPath) => p.runs.map((x, i) => `${x.toFixed(0)}${calmRound(p, i, MAX_PRESSURE) ? '' : '*'}`).join(' ')
    console.log(s.name.padEnd(14) + f1(none).padStart(8) + f1(net).padStart(9) + f1(net - none).padStart(8) + f1(paired).padStart(8) + `  ${runs(s.none)} | ${runs(s.withNet)}`)
  }
  const a = (n: SideName) => added.get(n) ?? NaN
  console.log('')
  if (added.has('reference')) {
    for (const n of ['berth+daemon', 'berth', 'netavark'] as const) if (added.has(n)) console.log(`${n} adds / reference adds: ${ratio(a(n), a('reference'))}`)
  }
  if (added.has('netavark') && added.has('berth+daemon')) console.log(`berth+daemon adds / netavark adds: ${ratio(a('berth+daemon'), a('netavark'))}`)
  if (added.has('berth+daemon')) {
    const verdict = (x: number, max: number) => (Number.isFinite(x) ? `${x <= max ? 'met' : 'NOT met'} (${x.toFixed(2)}x)` : 'not measured')
    console.log(`goal berth+daemon adds <= 0.5x what the reference adds: ${verdict(a('berth+daemon') / a('reference'), 0.5)}`)
    console.log(`goal berth+daemon adds <= what netavark adds: ${verdict(a('berth+daemon') / a('netavark'), 1)}`)
  }
}

/** Every ADD and DEL of the chain must have reached the daemon: else the figures are not the daemon's. */
function checkDaemonServed(s: Side, st: DaemonStatusJson): void {
  const parts: string[] = []
  let short = false
  for (const type of CHAIN) {
    for (const verb of ['ADD', 'DEL']) {
      const r = st.requests.find((x) => x.type === type && x.verb === verb)
      const ok = r?.codes['0'] ?? 0
      if (ok !== s.netRuns) short = true
      parts.push(`${type} ${verb} ${ok}/${s.netRuns} (p50 ${f1(r?.p50_ms ?? NaN)} ms)`)
    }
  }
  const fb = Object.entries(st.fallbacks)
  console.log(`daemon served: ${parts.join(', ')}; handed back: ${fb.length === 0 ? 'none' : fb.map(([k, v]) => `${k} ${v}`).join(', ')}`)
  if (short) {
    console.log('WARNING: the daemon did not serve every call of the berth+daemon stack: its figures are partly standalone berth')
    process.exitCode = 1
  }
}

/** Containers, the network and podman's mounts of one stack; host-local's and libcni's files of its network. */
function teardownSide(s: Side): void {
  const quiet = (args: string[]) => spawnSync('nsenter', podmanArgv(s, args), { env: s.env, stdio: 'ignore', timeout: 60_000 })
  quiet(['rm', '-a', '-f', '-t', '0'])
  quiet(['network', 'rm', '-f', s.net])
  unmountUnder(s.dir)
  rmSync(join(CNI_NETWORKS, s.net), { recursive: true, force: true })
  if (existsSync(CNI_RESULTS)) for (const f of readdirSync(CNI_RESULTS)) if (f.startsWith(`${s.net}-`)) rmSync(join(CNI_RESULTS, f), { force: true })
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name))
}

main()
  .catch((e: unknown) => {
    console.error(`bench/podman: ${e instanceof Error ? (e.stack ?? errMsg(e)) : String(e)}`)
    process.exitCode = 1
  })
  .finally(() => cleanup())
