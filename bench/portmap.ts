// The portmap plugin at scale and on the data path, side by side with the reference portmap
// (/usr/lib/cni/portmap, iptables) when it is installed:
//   1. ADD and DEL latency (median wall time, mean CPU time) of one attachment with 4 TCP mappings, with
//      M mappings already present on the host (BENCH_N, default 0,500,2000). Each M has its own host
//      namespace, populated first; the probes then interleave over every (M, side), so the load of a
//      shared machine drifts over all of them alike. berth runs as two sides from the same bin/ on the
//      same mappings: "berth+daemon", the shim served by a `berth daemon` inside that M's host namespace
//      (one per host; it populates berth's mappings, and its CPU time counts with each call's), and
//      "berth", the shim with no daemon on its BERTH_SOCKET (bin/lib/portmap, a Node process). Goals:
//      berth+daemon ADD and DEL <= 0.3x the reference's at the smallest and the largest M; berth's ADD+DEL
//      CPU at the largest M <= 1.1x at the smallest. The medians are plotted: bench/results/portmap-latency.svg.
//      Populating: portmap ADD for M/4 fake attachments, 4 mappings each, with a synthetic prevResult
//      (one interface in a sandbox and one IPv4 address in the fake subnet, which an empty bridge in
//      the host namespace holds, as a bridge would). portmap reads nothing else of prevResult, so this is
//      what a runtime hands it after bridge + host-local, without paying for 2 x 500 veth pairs. The
//      sides use different subnets and host ports (berth 20000+, reference 40000+).
//   2. Data plane through a published port, from an "outside" namespace linked to the host by a veth:
//      iperf3 TCP throughput to host-address:published-port and new TCP connections per second (a
//      bounded loop of short connections from a node client to a node server in the container), against
//      the same traffic to the container's own address (routed by the host). The container is made by
//      berth's bridge + host-local ADD once; berth's portmap and the reference's (other host ports) are
//      both applied to it. Goal: berth's published port >= 0.9x direct, for both.
//
// Nothing touches the machine's own namespace: everything happens inside throw-away "host" network
// namespaces (plugins run under `nsenter --net=HOST`), so berth's nft table, the reference's iptables
// chains and the sysctls live and die with it. Every namespace is held by an `unshare --net sleep`
// process, killed on exit, Ctrl-C or error (the sleeps end by themselves after BENCH_HOLD_SECONDS).
// berth's portmap keeps records under /run/berth/portmap/<dev>-<inode of the host namespace>/, removed on exit.
//
// The same bundle is also the node server and client of the connection test (argv[2] = conn-server /
// conn-client), started inside the namespaces through nsenter.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import {
  childCpuMs,
  cleanup,
  errMsg,
  f1,
  installCleanup,
  iperfClient,
  killChild,
  mean,
  median,
  newNamespaces,
  nsExec,
  nsSpawn,
  PATH_ENV,
  pool,
  ratio,
  tempDir,
  track,
  waitListening,
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
const N_LIST = envCounts('BENCH_N', '0,500,2000')
const PROBES = Number(process.env['BENCH_PROBES'] ?? 12)
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 3)
const PER_ATTACHMENT = 4
const POPULATE_JOBS = Number(process.env['BENCH_POPULATE_JOBS'] ?? 4)
const IPERF_SECONDS = Number(process.env['BENCH_IPERF_SECONDS'] ?? 3)
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5)
const CONN_SECONDS = Number(process.env['BENCH_CONN_SECONDS'] ?? 2)
// Capped so that the host's conntrack entries (120 s in TIME_WAIT) of all runs stay far below
// nf_conntrack_max: 3 paths x 5 rounds x 8000 = 120k.
const CONN_MAX = Number(process.env['BENCH_CONN_MAX'] ?? 8000)
const CONN_PARALLEL = Number(process.env['BENCH_CONN_PARALLEL'] ?? 8)
const HOLD_SECONDS = Number(process.env['BENCH_HOLD_SECONDS'] ?? 3600)
// BENCH_PARTS=latency (or dataplane) runs one part only, for quick comparisons; BENCH_DAEMON=0 leaves out
// berth+daemon; BENCH_WARMUP (default 3) probes of every (M, side) come before the measured ones.
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'latency,dataplane').split(',').map((s) => s.trim()))
const WITH_DAEMON = process.env['BENCH_DAEMON'] !== '0'
const CNI_VERSION = '1.0.0'

// ---------------------------------------------------------------------------------------------------
// Helper modes: the connection-rate server and client, run inside namespaces.

/** Accepts connections and closes each at once after one byte (the server closes first). */
function connServer(addr: string, port: number): void {
  const srv = createServer((s: Socket) => {
    s.on('error', () => undefined)
    s.end('x')
  })
  srv.listen(port, addr, () => process.stdout.write('listening\n'))
  // Bounded: the server ends by itself.
  setTimeout(() => process.exit(0), 600_000).unref()
}

/** Opens short connections for `seconds` (at most `max`), `parallel` at a time; prints {ok, failed, ms}. */
async function connClient(src: string, addr: string, port: number, seconds: number, max: number, parallel: number): Promise<void> {
  let ok = 0
  let failed = 0
  let started = 0
  const t0 = Date.now()
  const end = t0 + seconds * 1000
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect({ host: addr, port, localAddress: src })
      const timer = setTimeout(() => s.destroy(new Error('timeout')), 3000)
      let got = false
      s.on('data', () => (got = true))
      s.on('end', () => s.end())
      s.on('error', () => undefined)
      s.on('close', () => {
        clearTimeout(timer)
        if (got) ok++
        else failed++
        resolve()
      })
    })
  const worker = async () => {
    while (Date.now() < end && started < max) {
      started++
      await one()
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  process.stdout.write(`${JSON.stringify({ ok, failed, ms: Date.now() - t0 })}\n`)
}

// ---------------------------------------------------------------------------------------------------
// Namespaces held by a sleep process (BENCH_HOLD_SECONDS), one at a time, 30 s to appear.

const newNamespace = async (): Promise<Ns> => (await newNamespaces(1, HOLD_SECONDS, 30_000))[0] as Ns

// ---------------------------------------------------------------------------------------------------
// Plugin calls.

interface Side {
  name: 'berth+daemon' | 'berth' | 'reference'
  dir: string
  /** BERTH_SOCKET of berth's calls: a daemon's, or a path where none listens (berth standalone) */
  socket?: string
  /** the daemon serving this side: its CPU time counts with the call's */
  daemon?: BenchDaemon
  network: string
  /** fake attachments' addresses: 10.<octet>.x.y/16 */
  octet: number
  /** first host port of this side's mappings */
  portBase: number
}

interface Mapping {
  hostPort: number
  containerPort: number
  protocol: 'tcp'
  hostIP?: string
}

function portmapConf(s: Side, prevResult: unknown, mappings: Mapping[]): string {
  return JSON.stringify({ cniVersion: CNI_VERSION, name: s.network, type: 'portmap', snat: true, capabilities: { portMappings: true }, runtimeConfig: { portMappings: mappings }, prevResult })
}

/** A prevResult as bridge + host-local return it: the container's interface in its sandbox, one address. */
function syntheticPrev(s: Side, index: number, sandbox: string): unknown {
  const host = index + 2
  return {
    cniVersion: CNI_VERSION,
    interfaces: [{ name: `veth${index}`, mac: '02:00:00:00:00:01' }, { name: 'eth0', mac: '02:00:00:00:00:02', sandbox }],
    ips: [{ address: `10.${s.octet}.${host >> 8}.${host & 255}/16`, gateway: `10.${s.octet}.0.1`, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: {},
  }
}

/** Mappings of attachment `index`: PER_ATTACHMENT consecutive host ports (not coalesced: container ports differ). */
function mappingsOf(s: Side, index: number): Mapping[] {
  return Array.from({ length: PER_ATTACHMENT }, (_, k) => ({ hostPort: s.portBase + index * PER_ATTACHMENT + k, containerPort: 8000 + 7 * k, protocol: 'tcp' as const }))
}

function pluginEnv(s: Side, command: string, id: string, netns: string, ifName = 'eth0'): Record<string, string> {
  const env: Record<string, string> = { PATH: PATH_ENV, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: ifName, CNI_PATH: s.dir }
  if (s.socket !== undefined) env['BERTH_SOCKET'] = s.socket
  return env
}

/** A side's name as it may stand in a container ID ('+' may not). */
const tag = (s: Side) => s.name.replace('+daemon', 'd')

function callSync(host: Ns, s: Side, plugin: string, command: string, id: string, netns: string, conf: string): Timed {
  const cpu0 = childCpuMs() + (s.daemon?.cpuMs() ?? 0)
  const t0 = process.hrtime.bigint()
  const r = spawnSync('nsenter', [`--net=${host.path}`, '--', join(s.dir, plugin)], { env: pluginEnv(s, command, id, netns), input: conf, encoding: 'utf8', timeout: 120_000 })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  const cpuMs = childCpuMs() + (s.daemon?.cpuMs() ?? 0) - cpu0
  if (r.status !== 0) throw new Error(`${s.name} ${plugin} ${command} ${id} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`)
  return { ms, cpuMs, stdout: r.stdout }
}

function callAsync(host: Ns, s: Side, command: string, id: string, netns: string, conf: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = track(spawn('nsenter', [`--net=${host.path}`, '--', join(s.dir, 'portmap')], { env: pluginEnv(s, command, id, netns), stdio: ['pipe', 'pipe', 'pipe'] }))
    let out = ''
    p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d))
    p.on('error', (e) => resolve({ status: -1, out: `${out}${e.message}` }))
    p.on('close', (status) => resolve({ status, out }))
    p.stdin?.end(conf)
  })
}

// ---------------------------------------------------------------------------------------------------
// 1. Latency against the number of mappings present.


/** A host namespace: lo up, and the fake attachments' subnets on an empty bridge (as their bridge would hold them). */
async function newHost(sides: readonly Side[]): Promise<Ns> {
  const host = await newNamespace()
  // berth portmap's records of this namespace: they describe it only, and go with it.
  const records = `/run/berth/portmap/${netnsFileKey(host.path)}`
  rmSync(records, { recursive: true, force: true }) // a dead namespace's, should this one reuse its inode
  process.on('exit', () => rmSync(records, { recursive: true, force: true }))
  nsExec(host, 'ip', ['link', 'set', 'lo', 'up'])
  nsExec(host, 'ip', ['link', 'add', 'bpfake0', 'type', 'bridge'])
  for (const s of sides) nsExec(host, 'ip', ['addr', 'add', `10.${s.octet}.0.1/16`, 'dev', 'bpfake0'])
  nsExec(host, 'ip', ['link', 'set', 'bpfake0', 'up'])
  return host
}

async function latency(sides: Side[], sandbox: Ns, bin: string, daemons: BenchDaemon[]): Promise<Map<string, LatencyRow[]>> {
  // The probe: attachment index 0 of the side's range is reserved for it (fake ones start at 1); the two
  // berth sides use it in turn, each probe's DEL before the next one's ADD.
  let probeId = 0
  const probe = (host: Ns, s: Side) => {
    const id = `bench-pm-${tag(s)}-probe-${probeId++}`
    const conf = portmapConf(s, syntheticPrev(s, 0, sandbox.path), mappingsOf(s, 0))
    return { add: callSync(host, s, 'portmap', 'ADD', id, sandbox.path, conf), del: callSync(host, s, 'portmap', 'DEL', id, sandbox.path, conf) }
  }
  interface Combo {
    name: string
    side: Side
    n: number
    host: Ns
  }
  const combos: Combo[] = []
  const rows = new Map<string, LatencyRow[]>()
  for (const n of N_LIST) {
    const host = await newHost(sides)
    // The daemon serves only callers in its own network namespace: one per host.
    const daemon = WITH_DAEMON ? await startBenchDaemon(bin, host, HOLD_SECONDS, `pm${n}`) : undefined
    if (daemon) daemons.push(daemon)
    for (const s of sides) {
      const served: Side | undefined = s.name === 'berth' && daemon ? { ...s, name: 'berth+daemon', socket: daemon.socket, daemon } : undefined
      const t0 = Date.now()
      const idx = Array.from({ length: Math.ceil(n / PER_ATTACHMENT) }, (_, i) => i + 1)
      let failed: string | undefined
      await pool(idx, POPULATE_JOBS, async (i) => {
        if (failed !== undefined) return
        // berth's mappings through the daemon (the berth sides share them), as the faster way in
        const r = await callAsync(host, served ?? s, 'ADD', `bench-pm-${s.name}-${i}`, sandbox.path, portmapConf(s, syntheticPrev(s, i, sandbox.path), mappingsOf(s, i)))
        if (r.status !== 0) failed = `ADD ${i} failed (${r.status}): ${r.out.slice(0, 400)}`
      })
      if (failed !== undefined) throw new Error(`populating ${s.name} to ${n} mappings: ${failed}`)
      const populateS = (Date.now() - t0) / 1000
      for (const [side, pop] of served ? ([[served, populateS], [s, NaN]] as const) : ([[s, populateS]] as const)) {
        const name = `${side.name}@${n}`
        combos.push({ name, side, n, host })
        rows.set(name, [{ n, addMs: NaN, delMs: NaN, addCpu: NaN, delCpu: NaN, populateS: pop }])
      }
      process.stderr.write(`bench/portmap: ${served?.name ?? s.name}: ${idx.length * PER_ATTACHMENT} mappings (${populateS.toFixed(1)} s)\n`)
    }
  }
  // Warm-up: page cache, tables and chains exist before measuring, and each daemon has run its verbs' code
  // a few times (a resident daemon is warm; a fresh one compiles on its first calls).
  for (let k = 0; k < WARMUP; k++) for (const c of combos) probe(c.host, c.side)
  const samples = new Map<string, LatencyRow[]>(combos.map((c) => [c.name, rows.get(c.name) ?? []]))
  measureAll(combos, samples, (c) => probe(c.host, c.side))
  const out = new Map<string, LatencyRow[]>()
  for (const c of combos) out.set(c.side.name, [...(out.get(c.side.name) ?? []), ...(samples.get(c.name) ?? [])])
  process.stderr.write('bench/portmap: latency measured\n')
  return out
}

/** PROBES rounds; in each, one probe of every combination, in an order rotated from round to round. */
function measureAll<C extends { name: string; n: number }>(combos: readonly C[], rows: Map<string, LatencyRow[]>, probe: (c: C) => { add: Timed; del: Timed }): void {
  const sm = new Map<string, { add: Timed[]; del: Timed[] }>(combos.map((c) => [c.name, { add: [], del: [] }]))
  for (let k = 0; k < PROBES; k++) {
    for (let j = 0; j < combos.length; j++) {
      const c = combos[(j + k) % combos.length] as C
      const r = probe(c)
      sm.get(c.name)?.add.push(r.add)
      sm.get(c.name)?.del.push(r.del)
    }
  }
  for (const c of combos) {
    const m = sm.get(c.name) as { add: Timed[]; del: Timed[] }
    const row = rows.get(c.name)?.[0] as LatencyRow
    row.addMs = median(m.add.map((t) => t.ms))
    row.delMs = median(m.del.map((t) => t.ms))
    row.addCpu = mean(m.add.map((t) => t.cpuMs))
    row.delCpu = mean(m.del.map((t) => t.cpuMs))
  }
}

/** The sides in the latency table and its plot, in this order. */
const PLOTTED = ['berth+daemon', 'berth', 'reference']

function printLatency(rows: Map<string, LatencyRow[]>): void {
  printLatencyTable(
    `\n1. ADD / DEL latency of one attachment with ${PER_ATTACHMENT} TCP mappings, M mappings already on the host: median wall ms of ${PROBES} probes, mean CPU ms (berth+daemon: the shim's and the daemon's)`,
    'M',
    rows,
    PLOTTED,
  )
  const b = rows.get('berth') ?? []
  const r = rows.get('reference') ?? []
  const lo = b[0]
  const hi = b[b.length - 1]
  if (lo && hi && hi.n > lo.n) {
    const cpu = (hi.addCpu + hi.delCpu) / (lo.addCpu + lo.delCpu)
    const wall = (hi.addMs + hi.delMs) / (lo.addMs + lo.delMs)
    console.log(
      `goal berth ADD+DEL CPU at M=${hi.n} <= 1.1x at M=${lo.n}: ${cpu <= 1.1 ? 'met' : 'NOT met'} (${cpu.toFixed(2)}x; wall ${wall.toFixed(2)}x, ADD ${(hi.addMs / lo.addMs).toFixed(2)}x, DEL ${(hi.delMs / lo.delMs).toFixed(2)}x)`,
    )
    const rlo = r[0]
    const rhi = r[r.length - 1]
    if (rlo && rhi && rhi.n > rlo.n) {
      console.log(
        `reference for comparison, M=${rhi.n} vs M=${rlo.n}: ADD+DEL CPU ${((rhi.addCpu + rhi.delCpu) / (rlo.addCpu + rlo.delCpu)).toFixed(2)}x, wall ${((rhi.addMs + rhi.delMs) / (rlo.addMs + rlo.delMs)).toFixed(2)}x`,
      )
    }
  }
  // The daemon issue's goal, at the smallest and the largest M measured (0 and 2000 by default).
  const ms = (rows.get('berth+daemon') ?? []).map((x) => x.n)
  if (ms.length > 0 && r.length > 0) printRatioGoals(rows, 'berth+daemon', [...new Set([Math.min(...ms), Math.max(...ms)])], 0.3, 'M')
  const svg = writeLatencyPlot(ROOT, 'portmap-latency.svg', `portmap (${PER_ATTACHMENT} TCP mappings): ADD / DEL latency against mappings on the host`, 'M (mappings already on the host)', rows, PLOTTED)
  console.log(`plot: ${svg}`)
}

// ---------------------------------------------------------------------------------------------------
// 2. Data plane.

interface Path {
  label: string
  /** the client's source address: one per path, so no two paths' connections share a conntrack reply tuple */
  src: string
  addr: string
  iperfPort: number
  connPort: number
  gbps: number[]
  cps: number[]
  failed: number
}

const IPERF_PORT = 5201
const CONN_PORT = 8080

async function iperf(client: Ns, server: Ns, p: Path): Promise<number> {
  const srv = nsSpawn(server, 'iperf3', ['-s', '-1', '-p', String(IPERF_PORT)])
  try {
    await waitListening(srv, IPERF_PORT, 'iperf3 server')
    return iperfClient(client, ['-c', p.addr, '-B', p.src, '-p', String(p.iperfPort)], IPERF_SECONDS, `${p.label} (${p.addr}:${p.iperfPort})`)
  } finally {
    killChild(srv)
  }
}

function connRate(client: Ns, p: Path): number {
  const self = process.argv[1] as string
  const r = spawnSync(
    'nsenter',
    [`--net=${client.path}`, '--', process.execPath, self, 'conn-client', p.src, p.addr, String(p.connPort), String(CONN_SECONDS), String(CONN_MAX), String(CONN_PARALLEL)],
    { encoding: 'utf8', timeout: (CONN_SECONDS + 30) * 1000, env: { PATH: PATH_ENV } },
  )
  if (r.status !== 0) throw new Error(`connection client ${p.label} failed (${r.status ?? r.signal}): ${r.stderr.slice(0, 400)}`)
  const j = JSON.parse(r.stdout.trim()) as { ok: number; failed: number; ms: number }
  p.failed += j.failed
  return (j.ok / j.ms) * 1000
}

async function dataPlane(host: Ns, sides: Side[], bin: string, dataDir: string): Promise<Path[]> {
  const [container, outside] = [await newNamespace(), await newNamespace()]
  nsExec(container, 'ip', ['link', 'set', 'lo', 'up'])
  nsExec(outside, 'ip', ['link', 'set', 'lo', 'up'])
  // The outside: a veth to the host; its default route is the host, so it reaches the container's subnet
  // directly as well (the "direct" baseline).
  nsExec(host, 'ip', ['link', 'add', 'bpout0', 'type', 'veth', 'peer', 'name', 'bpout1', 'netns', String(outside.pid)])
  nsExec(host, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'bpout0'])
  nsExec(host, 'ip', ['link', 'set', 'bpout0', 'up'])
  nsExec(outside, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'bpout1'])
  nsExec(outside, 'ip', ['link', 'set', 'bpout1', 'up'])
  nsExec(outside, 'ip', ['route', 'add', 'default', 'via', '192.0.2.1'])

  // The container: berth's bridge + host-local, once (no ipMasq: the outside reaches it by route).
  const berth = sides[0] as Side
  const bridgeSide: Side = { ...berth, dir: bin }
  const bridgeConf = JSON.stringify({
    cniVersion: CNI_VERSION,
    name: 'bench-pm-dp',
    type: 'bridge',
    bridge: 'bpdp0',
    isGateway: true,
    ipam: { type: 'host-local', subnet: '10.209.0.0/24', dataDir, routes: [{ dst: '0.0.0.0/0' }] },
  })
  const added = callSync(host, bridgeSide, 'bridge', 'ADD', 'bench-pm-dp', container.path, bridgeConf)
  const prev = JSON.parse(added.stdout) as { ips?: { address?: string }[] }
  const caddr = prev.ips?.[0]?.address?.split('/')[0]
  if (caddr === undefined) throw new Error(`bridge ADD returned no address: ${added.stdout}`)

  const paths: Path[] = [{ label: 'direct to the container address', src: '192.0.2.2', addr: caddr, iperfPort: IPERF_PORT, connPort: CONN_PORT, gbps: [], cps: [], failed: 0 }]
  for (const [i, s] of sides.entries()) {
    const iperfPort = 15201 + i * 10000
    const connPort = 18080 + i * 10000
    const conf = portmapConf(s, prev, [
      { hostPort: iperfPort, containerPort: IPERF_PORT, protocol: 'tcp' },
      { hostPort: connPort, containerPort: CONN_PORT, protocol: 'tcp' },
    ])
    callSync(host, s, 'portmap', 'ADD', 'bench-pm-dp', container.path, conf)
    nsExec(outside, 'ip', ['addr', 'add', `192.0.2.${3 + i}/24`, 'dev', 'bpout1'])
    paths.push({ label: `${s.name} published port (192.0.2.1)`, src: `192.0.2.${3 + i}`, addr: '192.0.2.1', iperfPort, connPort, gbps: [], cps: [], failed: 0 })
  }

  const self = process.argv[1] as string
  const connSrv = nsSpawn(container, process.execPath, [self, 'conn-server', '0.0.0.0', String(CONN_PORT)])
  try {
    await waitListening(connSrv, CONN_PORT, 'connection server')
    for (let round = 0; round < ROUNDS; round++) {
      // The order rotates from round to round, so drift and leftovers of the previous run hit every path alike.
      const order = paths.map((_, k) => paths[(k + round) % paths.length] as Path)
      for (const p of order) p.gbps.push(await iperf(outside, container, p))
      for (const p of order) p.cps.push(connRate(outside, p))
      process.stderr.write(`bench/portmap: data plane round ${round + 1}/${ROUNDS} done\n`)
    }
  } finally {
    killChild(connSrv)
  }
  return paths
}

function printDataPlane(paths: Path[]): void {
  console.log(
    `\n2. Data plane from an outside namespace: iperf3 TCP ${IPERF_SECONDS} s and short TCP connections for ${CONN_SECONDS} s (${CONN_PARALLEL} at a time, at most ${CONN_MAX}), median of ${ROUNDS} interleaved rounds`,
  )
  const base = paths[0] as Path
  console.log('path'.padEnd(38) + 'Gbit/s'.padStart(8) + ' vs direct' + '    conn/s' + ' vs direct' + ' failed' + '  runs Gbit/s | conn/s')
  for (const p of paths) {
    const g = median(p.gbps)
    const c = median(p.cps)
    console.log(
      p.label.padEnd(38) +
        g.toFixed(2).padStart(8) +
        ratio(g, median(base.gbps)).padStart(10) +
        c.toFixed(0).padStart(10) +
        ratio(c, median(base.cps)).padStart(10) +
        String(p.failed).padStart(7) +
        '  ' +
        p.gbps.map((x) => x.toFixed(2)).join(' ') +
        ' | ' +
        p.cps.map((x) => x.toFixed(0)).join(' '),
    )
  }
  const b = paths.find((p) => p.label.startsWith('berth'))
  if (b) {
    const g = median(b.gbps) / median(base.gbps)
    const c = median(b.cps) / median(base.cps)
    console.log(`goal berth published port throughput >= 0.9x direct: ${g >= 0.9 ? 'met' : 'NOT met'} (${g.toFixed(2)}x)`)
    console.log(`goal berth published port connections/s >= 0.9x direct: ${c >= 0.9 && b.failed === 0 ? 'met' : 'NOT met'} (${c.toFixed(2)}x, ${b.failed} failed)`)
    const r = paths.find((p) => p.label.startsWith('reference'))
    if (r) console.log(`berth/reference published port: throughput ${ratio(median(b.gbps), median(r.gbps))}, connections/s ${ratio(median(b.cps), median(r.cps))}`)
  }
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  // Only here, not at import: the conn-server / conn-client modes of this bundle install no handlers.
  installCleanup('bench/portmap')
  const built = join(ROOT, 'bin')
  for (const p of ['portmap', 'bridge', 'host-local']) if (!existsSync(join(built, p))) throw new Error(`bin/${p} missing: run npm run build first`)
  const mkTmp = (tag: string) => tempDir(`berth-bench-pm-${tag}-`)
  // A private copy of bin/: a rebuild during the run must not swap executables under the benchmark.
  const bin = mkTmp('bin')
  cpSync(built, bin, { recursive: true })
  // berth standalone: a BERTH_SOCKET where no daemon listens (not the default one: another may run there).
  const noDaemon = join(mkTmp('no-daemon'), 'berthd.sock')
  const sides: Side[] = [{ name: 'berth', dir: bin, network: 'bench-pm-berth', octet: 201, portBase: 20000, socket: noDaemon }]
  if (existsSync(join(REF_DIR, 'portmap'))) sides.push({ name: 'reference', dir: REF_DIR, network: 'bench-pm-ref', octet: 202, portBase: 40000 })
  else process.stderr.write(`bench/portmap: no reference portmap in ${REF_DIR}: berth only\n`)
  const maxN = N_LIST[N_LIST.length - 1] ?? 0
  if (20000 + (maxN / PER_ATTACHMENT + 1) * PER_ATTACHMENT > 40000) throw new Error('BENCH_N too large: at most 19996 mappings per side')

  // The data plane's host; each M of the latency test gets its own.
  const host = await newHost(sides)
  // The fake attachments' sandbox: one namespace for all (portmap only checks that it exists).
  const sandbox = await newNamespace()
  console.log(
    `bench/portmap: berth bin/ ${WITH_DAEMON ? 'with a daemon in each host namespace and without' : 'without a daemon'} vs ${sides.length > 1 ? `reference ${REF_DIR}/portmap` : '(no reference)'}; M = ${N_LIST.join(', ')} mappings ` +
      `(${PER_ATTACHMENT} per attachment, synthetic prevResult); all inside throw-away host namespaces`,
  )
  const started = Date.now()
  const failures: string[] = []

  // The data plane first, on a host with no other mappings (its entries stay during the latency phase:
  // 2 mappings per side, the same for every M).
  let paths: Path[] | undefined
  if (PARTS.has('dataplane')) {
    try {
      paths = await dataPlane(host, sides, bin, mkTmp('ipam'))
    } catch (e) {
      failures.push(`data plane: ${errMsg(e)}`)
    }
  }
  let lat: Map<string, LatencyRow[]> | undefined
  const daemons: BenchDaemon[] = []
  if (PARTS.has('latency')) {
    try {
      lat = await latency(sides, sandbox, bin, daemons)
    } catch (e) {
      failures.push(`latency: ${errMsg(e)}`)
    }
  }
  if (lat) printLatency(lat)
  // Every call of the berth+daemon side must have been served by a daemon, or its figures mean nothing.
  for (const d of daemons) {
    const st = d.served()
    console.log(`the daemon of one host (pid ${d.pid}) served: ${describeServed(st)}`)
    if (Object.keys(st.fallbacks).length > 0) failures.push('a daemon handed calls back to the shim: berth+daemon figures include standalone runs')
    const code = await d.stop()
    if (code !== 0) failures.push(`a daemon exited with ${code} on SIGTERM: ${d.logTail()}`)
  }
  if (paths) printDataPlane(paths)
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`)
  if (failures.length > 0) {
    for (const f of failures) console.log(`FAILED ${f}`)
    process.exitCode = 1
  }
  for (const dev of ['bpfake0', 'bpdp0', 'bpout0']) if (existsSync(`/sys/class/net/${dev}`)) console.log(`WARNING: ${dev} exists in the bench's own namespace`)
}

const mode = process.argv[2]
if (mode === 'conn-server') connServer(process.argv[3] as string, Number(process.argv[4]))
else if (mode === 'conn-client') void connClient(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]), Number(process.argv[6]), Number(process.argv[7]), Number(process.argv[8]))
else {
  main()
    .catch((e: unknown) => {
      console.error(`bench/portmap: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      process.exitCode = 1
    })
    .finally(cleanup)
}
