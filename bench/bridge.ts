// The bridge plugin with host-local IPAM and ipMasq, at scale, side by side with the reference plugins
// (/usr/lib/cni/bridge + host-local) when they are installed. berth runs as two sides from the same bin/:
// "berth+daemon", the shim served by a `berth daemon` started inside the throw-away host namespace, and
// "berth", the shim with no daemon on its BERTH_SOCKET (so it runs bin/lib/bridge, a Node process).
//   1. ADD and DEL latency (median wall time, mean CPU time) with N containers already on the bridge
//      (BENCH_N, default 0,250,1000). The two berth sides share one bridge and its N containers (populated
//      through the daemon; the daemon keeps no state, so either side may act on it), and berth+daemon's CPU
//      time includes the daemon's own (/proc/PID/stat around each call). Goals: berth+daemon ADD and DEL
//      <= 0.3x the reference's at the smallest and the largest N; berth's cost at the largest N <= 1.1x its
//      cost at the smallest, also given against a control (berth on an empty bridge in another host
//      namespace, probed interleaved) so that load from other processes between the N phases cancels out.
//      The medians are also plotted: bench/results/bridge-latency.svg.
//   2. BENCH_PARALLEL (default 100) ADDs started at once on one fresh bridge per side: all succeed, all
//      addresses distinct; goal: berth+daemon's wall time <= 0.5x the reference's.
//   3. Data plane: iperf3 TCP throughput container -> container on the bridge and container -> an
//      "outside" namespace through NAT, against a plain veth pair between two namespaces (goal >= 0.95x),
//      in BENCH_IPERF_ROUNDS interleaved rounds (default 7) of BENCH_IPERF_SECONDS (default 3), every run
//      printed; with two structural references (a routed hop; the bridge without br_netfilter). A run
//      under CPU pressure above BENCH_MAX_CPU_PRESSURE (default 0.15, from PSI) is repeated up to
//      BENCH_IPERF_ATTEMPTS times (default 3) and left out of the medians; BENCH_IPERF_AFFINITY=none
//      unpins iperf3.
//
// Nothing touches the machine's own namespace: everything happens inside one throw-away "host" network
// namespace (the plugins run under `nsenter --net=HOST`), so bridges, nft tables, the reference's CNI-*
// iptables chains and forwarding sysctls all live and die with it. Every namespace (host, containers,
// outside) is held by an `unshare --net sleep` process; the bench kills them all on exit, Ctrl-C or error
// (and the sleeps end by themselves after BENCH_HOLD_SECONDS in case the bench itself is SIGKILLed). The
// host-local data directories are temporary directories, removed at the end.
//
// A Linux bridge takes at most 1024 ports: N above ~1000 fails in the kernel (for both sides).
//
// Quick runs: BENCH_ONLY=latency (or parallel, dataplane; comma-separated), BENCH_REFERENCE=0 (berth only),
// BENCH_N=0,1000, BENCH_PROBES=10, BENCH_WARMUP=3 (probes of every side before the first N), BENCH_DAEMON=0
// (no berth+daemon side).
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import {
  childCpuMs,
  cleanup,
  errMsg,
  f1,
  installCleanup,
  iperfClient,
  iperfAffinityArgs,
  interleavedRounds,
  calmMedian,
  calmRound,
  killChild,
  killNs,
  mean,
  median,
  newNamespaces as harnessNewNamespaces,
  nsExec,
  nsSpawn,
  PATH_ENV,
  pool,
  ratio,
  tempDir,
  track,
  waitListening,
  measureProbes,
  type LatencyRow,
  type Ns,
  type Timed,
  printLatencyTable,
  printRatioGoals,
  writeLatencyPlot,
  envCounts,
} from './lib/harness.js'
import { describeServed, startBenchDaemon, type BenchDaemon } from './lib/daemon.js'
import { netnsFileKey } from '../pkg/ns/netns.js'

const ROOT = process.cwd()
const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'
const N_LIST = envCounts('BENCH_N', '0,250,1000')
const PROBES = Number(process.env['BENCH_PROBES'] ?? 15)
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 3)
const PARALLEL = Number(process.env['BENCH_PARALLEL'] ?? 100)
const IPERF_SECONDS = Number(process.env['BENCH_IPERF_SECONDS'] ?? 3)
const IPERF_ROUNDS = Number(process.env['BENCH_IPERF_ROUNDS'] ?? 7)
const POPULATE_JOBS = Number(process.env['BENCH_POPULATE_JOBS'] ?? 4)
const HOLD_SECONDS = Number(process.env['BENCH_HOLD_SECONDS'] ?? 3600)
// BENCH_ONLY=latency,parallel,dataplane: the parts to run (default all); BENCH_REFERENCE=0 skips the reference.
const ONLY = new Set((process.env['BENCH_ONLY'] ?? 'latency,parallel,dataplane').split(',').map((s) => s.trim()))
const WITH_REFERENCE = process.env['BENCH_REFERENCE'] !== '0'
const WITH_DAEMON = process.env['BENCH_DAEMON'] !== '0'

// Clean-up of every child and temporary directory on exit, Ctrl-C or error: installed at start, as before.
installCleanup('bench/bridge')

// Namespaces held by a sleep process (BENCH_HOLD_SECONDS), deadline growing with the count.
const newNamespaces = (count: number) => harnessNewNamespaces(count, HOLD_SECONDS)

// ---------------------------------------------------------------------------------------------------
// The two sides.

interface Side {
  name: 'berth+daemon' | 'berth' | 'reference' | 'control'
  /** its own host namespace (the control side); default: the shared one */
  host?: Ns
  dir: string
  bridge: string
  network: string
  subnet: string
  dataDir: string
  /** BERTH_SOCKET of berth's calls: the daemon's, or a path where none listens (berth standalone) */
  socket?: string
  /** the daemon serving this side: its CPU time counts with the call's */
  daemon?: BenchDaemon
}

function netConf(s: Side, over: Partial<Pick<Side, 'bridge' | 'network' | 'subnet'>> = {}): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: over.network ?? s.network,
    type: 'bridge',
    bridge: over.bridge ?? s.bridge,
    isGateway: true,
    ipMasq: true,
    // The default route through the bridge's gateway address, for the NAT path.
    ipam: { type: 'host-local', subnet: over.subnet ?? s.subnet, dataDir: s.dataDir, routes: [{ dst: '0.0.0.0/0' }] },
  })
}

function pluginEnv(s: Side, command: 'ADD' | 'DEL', id: string, netns: Ns): Record<string, string> {
  const env: Record<string, string> = { PATH: PATH_ENV, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns.path, CNI_IFNAME: 'eth0', CNI_PATH: s.dir }
  if (s.socket !== undefined) env['BERTH_SOCKET'] = s.socket
  return env
}

/** A side's name as it may stand in a container ID or a network name ('+' may not). */
const tag = (s: Side) => s.name.replace('+daemon', 'd')

/** One plugin call, synchronous, inside the host namespace. */
function callSync(host: Ns, s: Side, command: 'ADD' | 'DEL', id: string, netns: Ns, conf = netConf(s)): Timed {
  const cpu0 = childCpuMs() + (s.daemon?.cpuMs() ?? 0)
  const t0 = process.hrtime.bigint()
  const r = spawnSync('nsenter', [`--net=${(s.host ?? host).path}`, '--', join(s.dir, 'bridge')], {
    env: pluginEnv(s, command, id, netns),
    input: conf,
    encoding: 'utf8',
    timeout: 120_000,
  })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  const cpuMs = childCpuMs() + (s.daemon?.cpuMs() ?? 0) - cpu0
  if (r.status !== 0) throw new Error(`${s.name} ${command} ${id} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`)
  return { ms, cpuMs, stdout: r.stdout }
}

/** One plugin call, asynchronous (for populating and the parallel test). */
function callAsync(host: Ns, s: Side, command: 'ADD' | 'DEL', id: string, netns: Ns, conf = netConf(s)): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = track(spawn('nsenter', [`--net=${(s.host ?? host).path}`, '--', join(s.dir, 'bridge')], { env: pluginEnv(s, command, id, netns), stdio: ['pipe', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    p.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    p.on('error', (e) => resolve({ status: -1, stdout, stderr: `${stderr}${e.message}` }))
    p.on('close', (status) => resolve({ status, stdout, stderr }))
    p.stdin?.end(conf)
  })
}

// ---------------------------------------------------------------------------------------------------
// 1. Latency against N.


// The control: berth on a bridge in a host namespace of its own that stays empty, probed interleaved with
// the others at every N. The machine is shared, so the load changes between N=0 and N=1000 minutes
// later; the berth/control ratio at each N cancels that drift out of the growth figure.
async function latency(host: Ns, measured: Side[], control: Side | undefined): Promise<Map<string, LatencyRow[]>> {
  const sides = control === undefined ? measured : [...measured, control]
  const rows = new Map<string, LatencyRow[]>(sides.map((s) => [s.name, []]))
  const probeNs = new Map<string, Ns>()
  for (const s of sides) probeNs.set(s.name, (await newNamespaces(1))[0] as Ns)
  // containers on each network: the two berth sides share theirs
  const count = new Map<string, number>()
  let probeId = 0
  const probe = (s: Side) => {
    const id = `bench-${tag(s)}-probe-${probeId++}`
    const ns = probeNs.get(s.name) as Ns
    const add = callSync(host, s, 'ADD', id, ns)
    const del = callSync(host, s, 'DEL', id, ns)
    return { add, del }
  }
  // Warm-up: page cache, the bridge exists before N=0 is measured (as with any later N), and a daemon has
  // run its verbs' code a few times (a resident daemon is warm; a fresh one compiles on its first calls).
  for (let k = 0; k < WARMUP; k++) for (const s of sides) probe(s)

  for (const n of N_LIST) {
    // The first side of a network populates it (berth+daemon for berth's, when it runs); the control stays empty.
    const populating = new Set<string>()
    for (const s of sides) {
      if (s.name === 'control' || populating.has(s.network)) continue
      populating.add(s.network)
      const have = count.get(s.network) ?? 0
      if (n <= have) continue
      const t0 = Date.now()
      const nss = await newNamespaces(n - have)
      const ids = nss.map((ns, i) => ({ ns, id: `bench-${tag(s)}-${have + i}` }))
      let failed: string | undefined
      await pool(ids, POPULATE_JOBS, async ({ ns, id }) => {
        if (failed !== undefined) return
        const r = await callAsync(host, s, 'ADD', id, ns)
        if (r.status !== 0) failed = `${s.name} ADD ${id} failed (${r.status}): ${r.stdout}${r.stderr}`
      })
      if (failed !== undefined) throw new Error(`populating ${s.name} to N=${n}: ${failed}`)
      count.set(s.network, n)
      const row: LatencyRow = { n, addMs: NaN, delMs: NaN, addCpu: NaN, delCpu: NaN, populateS: (Date.now() - t0) / 1000 }
      rows.get(s.name)?.push(row)
      process.stderr.write(`bench/bridge: ${s.name}: ${n} containers (${row.populateS.toFixed(1)} s)\n`)
    }
    for (const s of sides) if (!rows.get(s.name)?.some((r) => r.n === n)) rows.get(s.name)?.push({ n, addMs: NaN, delMs: NaN, addCpu: NaN, delCpu: NaN, populateS: NaN })
    measureProbes(sides, rows, n, PROBES, probe)
    process.stderr.write(`bench/bridge: N=${n} measured\n`)
  }
  return rows
}

function printLatency(rows: Map<string, LatencyRow[]>): void {
  printLatencyTable(
    `\n1. ADD / DEL latency with N containers already on the bridge (ipMasq on): median wall ms of ${PROBES} probes, mean CPU ms (berth+daemon: the shim's and the daemon's)`,
    'N',
    rows,
    PLOTTED,
  )
  const b = rows.get('berth') ?? []
  const r = rows.get('reference') ?? []
  const c = rows.get('control') ?? []
  if (c.length > 0) {
    console.log('control (berth on an empty bridge in its own host namespace, probed interleaved with the rows above):')
    console.log('N'.padStart(6) + ' | ctl ADD   DEL  cpuADD cpuDEL | berth/control ADD   DEL   cpu')
    for (const br of b) {
      const cr = c.find((x) => x.n === br.n)
      if (!cr) continue
      console.log(
        String(br.n).padStart(6) + ' | ' + f1(cr.addMs).padStart(7) + f1(cr.delMs).padStart(6) + f1(cr.addCpu).padStart(8) + f1(cr.delCpu).padStart(7) +
          ' | ' + ratio(br.addMs, cr.addMs).padStart(17) + ratio(br.delMs, cr.delMs).padStart(6) + ratio(br.addCpu + br.delCpu, cr.addCpu + cr.delCpu).padStart(6),
      )
    }
  }
  const lo = b[0]
  const hi = b[b.length - 1]
  if (lo && hi && hi.n > lo.n) {
    const add = hi.addMs / lo.addMs
    const del = hi.delMs / lo.delMs
    const cpu = (hi.addCpu + hi.delCpu) / (lo.addCpu + lo.delCpu)
    const ok = (x: number) => (x <= 1.1 ? 'met' : 'NOT met')
    console.log(`goal berth cost at N=${hi.n} <= 1.1x at N=${lo.n}: ADD wall ${add.toFixed(2)}x (${ok(add)}), DEL wall ${del.toFixed(2)}x (${ok(del)}), ADD+DEL CPU ${cpu.toFixed(2)}x (${ok(cpu)})`)
    const clo = c.find((x) => x.n === lo.n)
    const chi = c.find((x) => x.n === hi.n)
    if (clo && chi) {
      // The control is berth with no containers, probed at the same moments as berth at N: their ratio is
      // the growth without the machine's drift. The same ratio at N=lo (identical setups) is the noise floor.
      const r3 = (b: LatencyRow, k: LatencyRow) => [b.addMs / k.addMs, b.delMs / k.delMs, (b.addCpu + b.delCpu) / (k.addCpu + k.delCpu)] as const
      const [dAdd, dDel, dCpu] = r3(hi, chi)
      const [fAdd, fDel, fCpu] = r3(lo, clo)
      console.log(
        `same goal against the interleaved control (berth at N=${hi.n} / berth at 0 on another host): ADD wall ${dAdd.toFixed(2)}x (${ok(dAdd)}), DEL wall ${dDel.toFixed(2)}x (${ok(dDel)}), ADD+DEL CPU ${dCpu.toFixed(2)}x (${ok(dCpu)}); ` +
          `noise floor (N=${lo.n} / control): ${fAdd.toFixed(2)}x, ${fDel.toFixed(2)}x, ${fCpu.toFixed(2)}x`,
      )
    }
    const rlo = r[0]
    const rhi = r[r.length - 1]
    if (rlo && rhi && rhi.n > rlo.n) {
      console.log(
        `reference for comparison, N=${rhi.n} vs N=${rlo.n}: ADD wall ${(rhi.addMs / rlo.addMs).toFixed(2)}x, DEL wall ${(rhi.delMs / rlo.delMs).toFixed(2)}x, ADD+DEL CPU ${((rhi.addCpu + rhi.delCpu) / (rlo.addCpu + rlo.delCpu)).toFixed(2)}x`,
      )
    }
  }
  // The daemon issue's goal, at the smallest and the largest N measured (0 and 1000 by default).
  const ns = (rows.get('berth+daemon') ?? []).map((x) => x.n)
  if (ns.length > 0 && r.length > 0) printRatioGoals(rows, 'berth+daemon', [...new Set([Math.min(...ns), Math.max(...ns)])], 0.3, 'N')
  const svg = writeLatencyPlot(ROOT, 'bridge-latency.svg', 'bridge + host-local (ipMasq): ADD / DEL latency against containers on the bridge', 'N (containers already on the bridge)', rows, PLOTTED)
  console.log(`plot: ${svg}`)
}

/** The sides in the latency table and its plot, in this order (not the control). */
const PLOTTED = ['berth+daemon', 'berth', 'reference']

// ---------------------------------------------------------------------------------------------------
// 2. Parallel ADDs on one fresh bridge.

interface ParallelResult {
  ok: number
  distinct: number
  wallMs: number
  cpuMs: number
  firstError?: string
}

async function parallel(host: Ns, s: Side, bridge: string, network: string, subnet: string): Promise<ParallelResult> {
  const nss = await newNamespaces(PARALLEL)
  const conf = netConf(s, { bridge, network, subnet })
  const cpu0 = childCpuMs() + (s.daemon?.cpuMs() ?? 0)
  const t0 = process.hrtime.bigint()
  const results = await Promise.all(nss.map((ns, i) => callAsync(host, s, 'ADD', `bench-par-${tag(s)}-${i}`, ns, conf)))
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  const cpuMs = childCpuMs() + (s.daemon?.cpuMs() ?? 0) - cpu0
  const addrs = new Set<string>()
  let ok = 0
  let firstError: string | undefined
  for (const r of results) {
    if (r.status === 0) {
      ok++
      try {
        const res = JSON.parse(r.stdout) as { ips?: { address?: string }[] }
        for (const ip of res.ips ?? []) if (ip.address) addrs.add(ip.address)
      } catch {
        firstError ??= `unparsable result: ${r.stdout.slice(0, 200)}`
      }
    } else firstError ??= `exit ${r.status}: ${(r.stdout + r.stderr).slice(0, 400)}`
  }
  // Remove them again (also the reference's per-container iptables chains) before the latency phase.
  await pool(nss.map((ns, i) => ({ ns, i })), POPULATE_JOBS, async ({ ns, i }) => {
    const r = await callAsync(host, s, 'DEL', `bench-par-${tag(s)}-${i}`, ns, conf)
    if (r.status !== 0) firstError ??= `DEL exit ${r.status}: ${(r.stdout + r.stderr).slice(0, 400)}`
  })
  for (const ns of nss) killNs(ns)
  return { ok, distinct: addrs.size, wallMs, cpuMs, ...(firstError !== undefined ? { firstError } : {}) }
}

// ---------------------------------------------------------------------------------------------------
// 3. Data plane.
//
// Every path is measured once per round, rounds interleaved (harness interleavedRounds), iperf3 ends
// pinned to two CPUs, the first second of each run (slow start) left out. On this shared machine another
// process taking one of the two CPUs halves a run, so a run under CPU pressure (PSI) is repeated, and the
// figures are medians of the calm runs: contention only ever lowers a run, it never raises one.
//
// Two structural references explain what is left between a bridge and a plain veth pair:
//   - "routed hop": two veth pairs joined by a forwarding namespace, no bridge, no netfilter: the hop that
//     the NAT path has and a plain veth pair has not;
//   - "berth c->c, no br_netfilter": the berth path again with net.bridge.bridge-nf-call-iptables=0 in
//     the throw-away host namespace for that run only. With br_netfilter (built into some kernels, loaded
//     by docker or kubeadm on others) every bridged IPv4 packet walks the host's IPv4 netfilter hooks and
//     conntrack; the reference plugins pay the same. Diagnostic only: the plugins never change it.

interface Path {
  label: string
  client: Ns
  server: Ns
  addr: string
  runs: number[]
  pressure: number[]
  /** set around this path's runs only (a diagnostic), restored after each run */
  sysctl?: { ns: Ns; key: string; value: string }
}

const AFFINITY = iperfAffinityArgs()
// A run during which some task waited for a CPU more than this share of the time is repeated (up to
// IPERF_ATTEMPTS in all) and, if it stays so, left out of the ratios (harness interleavedRounds).
const MAX_PRESSURE = Number(process.env['BENCH_MAX_CPU_PRESSURE'] ?? 0.15)
const IPERF_ATTEMPTS = Number(process.env['BENCH_IPERF_ATTEMPTS'] ?? 3)

async function iperf(p: Path): Promise<number> {
  const port = 5201
  const restore = p.sysctl === undefined ? undefined : readSysctl(p.sysctl.ns, p.sysctl.key)
  const server = nsSpawn(p.server, 'iperf3', ['-s', '-1', '-B', p.addr, '-p', String(port)])
  try {
    if (p.sysctl) nsExec(p.sysctl.ns, 'sysctl', ['-qw', `${p.sysctl.key}=${p.sysctl.value}`])
    await waitListening(server, port, `iperf3 server on ${p.addr}`)
    return iperfClient(p.client, ['-c', p.addr, '-p', String(port), '-O', '1', ...AFFINITY], IPERF_SECONDS, `${p.label} (${p.addr})`)
  } finally {
    killChild(server)
    if (p.sysctl && restore !== undefined) nsExec(p.sysctl.ns, 'sysctl', ['-qw', `${p.sysctl.key}=${restore}`])
  }
}

function ipOf(addResult: string): string {
  const r = JSON.parse(addResult) as { ips?: { address?: string }[] }
  const a = r.ips?.[0]?.address
  if (a === undefined) throw new Error(`ADD returned no address: ${addResult}`)
  return a.split('/')[0] as string
}

/** A veth pair `a` (in `na`, address aAddr) <-> `b` (in `nb`, bAddr), both up. */
function vethPair(na: Ns, a: string, aAddr: string, nb: Ns, b: string, bAddr: string): void {
  nsExec(na, 'ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', String(nb.pid)])
  nsExec(na, 'ip', ['addr', 'add', aAddr, 'dev', a])
  nsExec(nb, 'ip', ['addr', 'add', bAddr, 'dev', b])
  nsExec(na, 'ip', ['link', 'set', a, 'up'])
  nsExec(nb, 'ip', ['link', 'set', b, 'up'])
}

const BR_NF = 'net.bridge.bridge-nf-call-iptables'

/** A sysctl's value inside `ns`, undefined when the kernel has no such key (no br_netfilter). */
function readSysctl(ns: Ns, key: string): string | undefined {
  try {
    return nsExec(ns, 'sysctl', ['-n', key]).trim()
  } catch {
    return undefined
  }
}

async function dataPlane(host: Ns, sides: Side[]): Promise<Path[]> {
  // Plain veth pair between two namespaces: the baseline.
  const [va, vb, outside, ra, rt, rb] = (await newNamespaces(6)) as [Ns, Ns, Ns, Ns, Ns, Ns]
  vethPair(va, 'bbva', '10.250.0.1/24', vb, 'bbvb', '10.250.0.2/24')
  // The routed hop: ra -> rt (forwarding) -> rb.
  vethPair(ra, 'bbra', '10.251.0.2/24', rt, 'bbrt0', '10.251.0.1/24')
  vethPair(rb, 'bbrb', '10.252.0.2/24', rt, 'bbrt1', '10.252.0.1/24')
  nsExec(rt, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  nsExec(ra, 'ip', ['route', 'add', 'default', 'via', '10.251.0.1'])
  nsExec(rb, 'ip', ['route', 'add', 'default', 'via', '10.252.0.1'])
  // The "outside": a namespace linked to the host by a veth, with no route back to any container
  // subnet, so only NAT (masquerade to 192.0.2.1) lets replies come back.
  vethPair(host, 'bbout0', '192.0.2.1/24', outside, 'bbout1', '192.0.2.2/24')
  nsExec(outside, 'ip', ['link', 'set', 'lo', 'up'])
  const brNf = readSysctl(host, BR_NF) === '1'

  const paths: Path[] = [
    { label: 'plain veth pair', client: va, server: vb, addr: '10.250.0.2', runs: [], pressure: [] },
    { label: 'routed hop (veth, fwd ns, veth)', client: ra, server: rb, addr: '10.252.0.2', runs: [], pressure: [] },
  ]
  const made: { s: Side; id: string; ns: Ns }[] = []
  try {
    for (const s of sides) {
      const [c1, c2] = (await newNamespaces(2)) as [Ns, Ns]
      callSync(host, s, 'ADD', `bench-dp-${s.name}-1`, c1)
      made.push({ s, id: `bench-dp-${s.name}-1`, ns: c1 })
      const a2 = callSync(host, s, 'ADD', `bench-dp-${s.name}-2`, c2)
      made.push({ s, id: `bench-dp-${s.name}-2`, ns: c2 })
      paths.push({ label: `${s.name} container -> container`, client: c1, server: c2, addr: ipOf(a2.stdout), runs: [], pressure: [] })
      paths.push({ label: `${s.name} container -> outside (NAT)`, client: c1, server: outside, addr: '192.0.2.2', runs: [], pressure: [] })
      if (s.name === 'berth' && brNf) {
        paths.push({ label: 'berth c->c, no br_netfilter', client: c1, server: c2, addr: ipOf(a2.stdout), runs: [], pressure: [], sysctl: { ns: host, key: BR_NF, value: '0' } })
      }
    }
    process.stderr.write(
      `bench/bridge: data plane: ${paths.length} paths, ${IPERF_ROUNDS} interleaved rounds of ${IPERF_SECONDS} s (+1 s omitted)` +
        `${AFFINITY.length > 0 ? `, iperf3 ${AFFINITY.join(' ')}` : ''}; ${BR_NF}=${brNf ? '1' : '0 or absent'} in the host namespace\n`,
    )
    await interleavedRounds(paths, { rounds: IPERF_ROUNDS, maxPressure: MAX_PRESSURE, attempts: IPERF_ATTEMPTS }, iperf, (line) =>
      process.stderr.write(`bench/bridge: iperf3 ${line}\n`),
    )
  } finally {
    // The latency phase counts containers on these bridges: remove the data-plane ones.
    for (const m of made) {
      try {
        callSync(host, m.s, 'DEL', m.id, m.ns)
      } catch (e) {
        process.stderr.write(`bench/bridge: DEL of ${m.id} failed: ${errMsg(e)}\n`)
      }
      killNs(m.ns)
    }
    for (const ns of [va, vb, outside, ra, rt, rb]) killNs(ns)
  }
  return paths
}

function printDataPlane(paths: Path[]): void {
  console.log(
    `\n3. Data plane: iperf3 TCP, ${IPERF_SECONDS} s per run (+1 s omitted)${AFFINITY.length > 0 ? `, ${AFFINITY.join(' ')}` : ''}, ` +
      `${IPERF_ROUNDS} interleaved rounds, Gbit/s: the median of the calm runs (CPU pressure <= ${(MAX_PRESSURE * 100).toFixed(0)}% ` +
      `during the run; * = not calm, left out unless no run was calm)`,
  )
  const base = paths[0]
  if (base === undefined) return
  const baseMedian = calmMedian(base, MAX_PRESSURE).median
  console.log('path'.padEnd(36) + 'median'.padStart(8) + '  vs veth' + '  calm' + '  runs in round order')
  for (const p of paths) {
    const m = calmMedian(p, MAX_PRESSURE)
    const runs = p.runs.map((x, i) => `${x.toFixed(2)}${calmRound(p, i, MAX_PRESSURE) ? '' : '*'}`).join(' ')
    console.log(p.label.padEnd(36) + m.median.toFixed(2).padStart(8) + ratio(m.median, baseMedian).padStart(9) + String(m.runs).padStart(6) + '  ' + runs)
  }
  const rel = (a: Path, b: Path) => calmMedian(a, MAX_PRESSURE).median / calmMedian(b, MAX_PRESSURE).median
  for (const kind of ['container -> container', 'container -> outside (NAT)']) {
    const p = paths.find((x) => x.label === `berth ${kind}`)
    if (p === undefined) continue
    const r = rel(p, base)
    console.log(`goal berth ${kind} >= 0.95x plain veth: ${r >= 0.95 ? 'met' : 'NOT met'} (${r.toFixed(2)}x)`)
  }
  for (const kind of ['container -> container', 'container -> outside (NAT)']) {
    const b = paths.find((p) => p.label === `berth ${kind}`)
    const r = paths.find((p) => p.label === `reference ${kind}`)
    if (b && r) console.log(`berth/reference ${kind}: ${rel(b, r).toFixed(2)}x`)
  }
  const noNf = paths.find((p) => p.sysctl !== undefined)
  const routed = paths[1]
  if (noNf) console.log(`structural: berth container -> container with ${BR_NF}=0 (a diagnostic, never set by the plugins): ${rel(noNf, base).toFixed(2)}x plain veth`)
  if (routed) console.log(`structural: a routed hop with no bridge and no netfilter, which the NAT path has and a veth pair has not: ${rel(routed, base).toFixed(2)}x plain veth`)
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const built = join(ROOT, 'bin')
  if (!existsSync(join(built, 'bridge')) || !existsSync(join(built, 'host-local'))) throw new Error('bin/bridge or bin/host-local missing: run npm run build first')
  const mkData = (tag: string) => tempDir(`berth-bench-${tag}-`)
  // A private copy of bin/: a rebuild during the run must not swap executables under the benchmark.
  const berthDir = mkData('bin')
  cpSync(built, berthDir, { recursive: true })
  // berth standalone: a BERTH_SOCKET where no daemon listens (not the default one: another may run there).
  const noDaemon = join(mkData('no-daemon'), 'berthd.sock')
  const berth: Side = { name: 'berth', dir: berthDir, bridge: 'bbberth0', network: 'bench-berth', subnet: '10.201.0.0/16', dataDir: mkData('berth'), socket: noDaemon }
  const [host] = (await newNamespaces(1)) as [Ns]
  nsExec(host, 'ip', ['link', 'set', 'lo', 'up'])
  // The daemon serves only callers in its own network namespace: it runs inside the throw-away host.
  const daemon = WITH_DAEMON ? await startBenchDaemon(berthDir, host, HOLD_SECONDS, 'bridge') : undefined
  // berth+daemon first: it populates the network the two berth sides share.
  const sides: Side[] = daemon === undefined ? [berth] : [{ ...berth, name: 'berth+daemon', socket: daemon.socket, daemon }, berth]
  if (!WITH_REFERENCE) {
    process.stderr.write('bench/bridge: BENCH_REFERENCE=0: berth only\n')
  } else if (existsSync(join(REF_DIR, 'bridge')) && existsSync(join(REF_DIR, 'host-local'))) {
    sides.push({ name: 'reference', dir: REF_DIR, bridge: 'bbref0', network: 'bench-ref', subnet: '10.202.0.0/16', dataDir: mkData('ref') })
  } else {
    process.stderr.write(`bench/bridge: no reference plugins in ${REF_DIR}: berth only\n`)
  }
  // berth's attachment records for the throw-away host live in /run, keyed by its namespace: removed at the end.
  hostStateDir = join('/run/berth/bridge', netnsFileKey(host.path))
  // A new namespace may reuse a dead one's inode, and so find that one's records: start without them.
  rmSync(hostStateDir, { recursive: true, force: true })
  console.log(
    `bench/bridge: berth bin/ ${daemon ? `with a daemon in the host namespace (pid ${daemon.pid}) and without` : 'without a daemon'} vs ` +
      `${sides.some((s) => s.name === 'reference') ? `reference ${REF_DIR}` : '(no reference)'}; N = ${N_LIST.join(', ')}; ` +
      `all inside a throw-away host namespace (${host.path}); ${PROBES} probes per N`,
  )
  const started = Date.now()
  const failures: string[] = []

  // 3 first (cheap, and a broken data path should show up early); its containers are deleted afterwards.
  let paths: Path[] | undefined
  try {
    // The daemon changes nothing on the data path: berth's containers are made without it.
    if (ONLY.has('dataplane')) paths = await dataPlane(host, sides.filter((s) => s.name !== 'berth+daemon'))
  } catch (e) {
    failures.push(`data plane: ${errMsg(e)}`)
  }

  // 2 before 1: on a host that does not yet carry 2 x 1000 containers; its containers are deleted afterwards.
  const par = new Map<string, ParallelResult>()
  for (const [i, s] of ONLY.has('parallel') ? sides.entries() : []) {
    try {
      par.set(s.name, await parallel(host, s, `bbpar${i}`, `bench-par-${tag(s)}`, `10.${210 + i}.0.0/16`))
    } catch (e) {
      failures.push(`parallel ${s.name}: ${errMsg(e)}`)
    }
  }

  let lat: Map<string, LatencyRow[]> | undefined
  try {
    if (ONLY.has('latency')) {
      const [ctlHost] = (await newNamespaces(1)) as [Ns]
      nsExec(ctlHost, 'ip', ['link', 'set', 'lo', 'up'])
      controlStateDir = join('/run/berth/bridge', netnsFileKey(ctlHost.path))
      rmSync(controlStateDir, { recursive: true, force: true })
      const control: Side = { name: 'control', host: ctlHost, dir: berthDir, bridge: 'bbctl0', network: 'bench-ctl', subnet: '10.203.0.0/16', dataDir: mkData('ctl'), socket: noDaemon }
      lat = await latency(host, sides, control)
    }
  } catch (e) {
    failures.push(`latency: ${errMsg(e)}`)
  }

  if (lat) printLatency(lat)
  if (par.size > 0) {
    console.log(`\n2. ${PARALLEL} ADDs started at once on one new bridge per side (CPU: berth+daemon's includes the daemon's)`)
    console.log('side'.padEnd(14) + 'ok'.padStart(8) + 'distinct'.padStart(10) + 'wall ms'.padStart(10) + 'CPU ms'.padStart(9) + '  wall/ref')
    const r = par.get('reference')
    for (const [name, x] of par) {
      console.log(name.padEnd(14) + `${x.ok}/${PARALLEL}`.padStart(8) + String(x.distinct).padStart(10) + f1(x.wallMs).padStart(10) + f1(x.cpuMs).padStart(9) + (r && name !== 'reference' ? ratio(x.wallMs, r.wallMs).padStart(10) : ''))
      if (x.firstError) console.log(`  first error (${name}): ${x.firstError}`)
    }
    for (const name of ['berth+daemon', 'berth']) {
      const b = par.get(name)
      if (b) console.log(`goal ${name}: all ${PARALLEL} succeed with distinct addresses: ${b.ok === PARALLEL && b.distinct === PARALLEL ? 'met' : 'NOT met'}`)
    }
    const d = par.get('berth+daemon')
    if (d && r) console.log(`goal berth+daemon wall <= 0.5x reference: ${d.wallMs / r.wallMs <= 0.5 ? 'met' : 'NOT met'} (${ratio(d.wallMs, r.wallMs)}; CPU ${ratio(d.cpuMs, r.cpuMs)})`)
  }
  if (daemon) {
    // Every call of the berth+daemon side must have been served by the daemon, or its figures mean nothing.
    const st = daemon.served()
    console.log(`\nthe daemon served: ${describeServed(st)}`)
    if (Object.keys(st.fallbacks).length > 0) failures.push('the daemon handed calls back to the shim: berth+daemon figures include standalone runs')
    const code = await daemon.stop()
    if (code !== 0) failures.push(`the daemon exited with ${code} on SIGTERM: ${daemon.logTail()}`)
  }
  if (paths) printDataPlane(paths)
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`)
  if (failures.length > 0) {
    for (const f of failures) console.log(`FAILED ${f}`)
    process.exitCode = 1
  }
  // Sanity: nothing leaked into this (the machine's) namespace.
  for (const dev of ['bbberth0', 'bbref0', 'bbctl0', 'bbpar0', 'bbpar1', 'bbout0']) {
    if (existsSync(`/sys/class/net/${dev}`)) console.log(`WARNING: ${dev} exists in the bench's own namespace`)
  }
}

let hostStateDir: string | undefined
let controlStateDir: string | undefined

main()
  .catch((e: unknown) => {
    console.error(`bench/bridge: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exitCode = 1
  })
  .finally(() => {
    cleanup()
    for (const d of [hostStateDir, controlStateDir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })
