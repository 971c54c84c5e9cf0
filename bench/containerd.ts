// Pod network set-up and tear-down as a Kubernetes node pays for it: containerd 1.6's CRI driven the way a
// kubelet drives it (test/helpers/cri, the harness of test/integration/containerd.ts), berth's bin/ and the
// reference plugins (/usr/lib/cni) side by side in one run. One private containerd per side, each with the
// bridge (host-local, gateway, masquerade, hairpin) + portmap conflist. The sides:
//   berth            bin/ with no daemon: every shim runs its plugin in a Node process of its own
//   berth + daemon   the same bin/ with `berth daemon` of that build on a private socket (BERTH_SOCKET in
//                    containerd's environment), as `berth install` sets a node up; BENCH_DAEMON=0 leaves it out
//   reference        the Go plugins
// Measured:
//   1. RunPodSandbox of a pod publishing a hostPort, then StopPodSandbox and RemovePodSandbox, one pod at
//      a time, in BENCH_ROUNDS interleaved rounds (default 20; the order of the sides rotates); median and
//      p90 wall time of each call, and the CPU time of the plugins per pod: containerd's waited-for
//      children (the plugins, and the shim launcher every side pays alike) plus the daemon's own CPU.
//   2. BENCH_BURST (default 10) pods started at once, then all stopped and removed at once, in
//      BENCH_BURST_ROUNDS interleaved rounds (default 3): wall time until the last one is done.
// The pods are sandboxes only (the "pause" container): RunPodSandbox is where the network is made. Wall
// times include containerd's own work (snapshot, runc, shim), the same on every side, so the ratios
// understate the plugins' difference; the CPU column isolates them better. Not an assertion.
//
// Like the test, this runs in the machine's own network namespace, as containerd does on a node, with
// unique names (bridges btcb<tag><n>, networks berth-crib-<tag>-*), random free /24s and free host ports,
// and removes everything at the end, also on Ctrl-C, the reference's shared iptables chains included when
// this run made their tables.
import { cpSync, existsSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { cleanup, errMsg, f1, installCleanup, median, ratio, tempDir } from './lib/harness.js'
import { describeServed, startBenchDaemon, type BenchDaemon } from './lib/daemon.js'
import { staticBusybox } from '../test/helpers/busybox.js'
import { freeTcpPort, freeV4Slash24s } from '../test/helpers/host-net.js'
import { needsContainerd } from '../test/helpers/cri/containerd.js'
import { CriNode } from '../test/helpers/cri/node.js'
import type { PodNetworkSpec } from '../test/helpers/cri/network.js'
import { removePod, runPod, sandboxConfig, type PodSpec } from '../test/helpers/cri/pods.js'

const ROOT = process.cwd()
const REF_DIR = process.env['CNI_REFERENCE_DIR'] ?? '/usr/lib/cni'
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 20)
const BURST = Number(process.env['BENCH_BURST'] ?? 10)
const BURST_ROUNDS = Number(process.env['BENCH_BURST_ROUNDS'] ?? 3)
// BENCH_HOSTPORT=0: part 1's pods publish no port (portmap then has nothing to do)
const WITH_HOSTPORT = process.env['BENCH_HOSTPORT'] !== '0'
const WITH_DAEMON = process.env['BENCH_DAEMON'] !== '0'

interface Side {
  name: string
  node: CriNode
  net: PodNetworkSpec
  hostPort: number
  /** the daemon serving this side's shims, whose CPU counts as the plugins' */
  daemon?: BenchDaemon
  run: number[]
  stop: number[]
  remove: number[]
  /** CPU ms of the plugins per pod (ADD + DEL of the whole chain, loopback included) */
  cpu: number[]
  burstRun: number[]
  burstStop: number[]
  failures: string[]
}

/** user + system CPU time (ms) of the waited-for children of process `pid` (the CNI plugins it ran). */
function childrenCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[13]) + Number(fields[14])) * 10
}
const pluginCpuMs = (s: Side) => childrenCpuMs(s.node.containerd.pid) + (s.daemon?.cpuMs() ?? 0)

const p90 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)] as number)
}

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = process.hrtime.bigint()
  const v = await fn()
  return [v, Number(process.hrtime.bigint() - t0) / 1e6]
}

let seq = 0
const podSpec = (s: Side, hostPort?: number): PodSpec => ({ name: `bench-${seq++}`, namespace: 'berth-bench', ...(hostPort ? { hostPort } : {}) })

/** One pod with the side's hostPort: RunPodSandbox, StopPodSandbox, RemovePodSandbox, each timed. */
async function onePod(s: Side): Promise<void> {
  const cpu0 = pluginCpuMs(s)
  const config = sandboxConfig(s.node, podSpec(s, WITH_HOSTPORT ? s.hostPort : undefined), randomUUID())
  let id: string
  try {
    const [sid, ms] = await timed(() => s.node.cri.runPodSandbox(config, 120_000))
    id = sid
    s.run.push(ms)
  } catch (e) {
    s.failures.push(`RunPodSandbox: ${errMsg(e)}`)
    return
  }
  s.node.sandboxes.set(id, { config })
  const [, stopMs] = await timed(() => s.node.cri.stopPodSandbox(id, 120_000))
  const [, rmMs] = await timed(() => s.node.cri.removePodSandbox(id, 120_000))
  s.node.sandboxes.delete(id)
  s.stop.push(stopMs)
  s.remove.push(rmMs)
  s.cpu.push(pluginCpuMs(s) - cpu0)
}

/** BURST pods started at once (no hostPort), then removed at once; the wall time of each half. */
async function burst(s: Side): Promise<void> {
  const specs = Array.from({ length: BURST }, () => podSpec(s))
  const [started, runMs] = await timed(() => Promise.allSettled(specs.map((p) => runPod(s.node, p))))
  const pods = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  for (const r of started) if (r.status === 'rejected') s.failures.push(`burst RunPodSandbox: ${errMsg(r.reason)}`)
  const ips = new Set(pods.map((p) => p.ip))
  if (ips.size !== pods.length) s.failures.push(`burst: ${pods.length} pods but ${ips.size} distinct addresses`)
  const [removed, stopMs] = await timed(() => Promise.allSettled(pods.map((p) => removePod(s.node, p))))
  for (const r of removed) if (r.status === 'rejected') s.failures.push(`burst removal: ${errMsg(r.reason)}`)
  if (pods.length === BURST) {
    s.burstRun.push(runMs)
    s.burstStop.push(stopMs)
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (containerd, namespaces, nftables)')
  const missing = needsContainerd()
  if (missing !== false) throw new Error(missing)
  const busybox = staticBusybox()
  if (busybox === undefined) throw new Error('no static busybox (apt-get install busybox-static)')
  if (!existsSync(join(ROOT, 'bin', 'portmap'))) throw new Error('bin/portmap missing: run npm run build first')
  if (!existsSync(join(REF_DIR, 'portmap'))) throw new Error(`no reference plugins in ${REF_DIR} (apt-get install containernetworking-plugins)`)
  // A private copy of bin/: a rebuild during the run must not swap executables under the benchmark.
  const berthBin = tempDir('berth-bench-cri-bin-')
  cpSync(join(ROOT, 'bin'), berthBin, { recursive: true })

  const tag = randomBytes(3).toString('hex')
  const plan: { name: string; dir: string; daemon?: boolean }[] = [{ name: 'berth', dir: berthBin }]
  if (WITH_DAEMON) plan.push({ name: 'berth + daemon', dir: berthBin, daemon: true })
  plan.push({ name: 'reference', dir: REF_DIR })
  const prefixes = freeV4Slash24s(plan.length)
  const sides: Side[] = []
  try {
    for (const [i, p] of plan.entries()) {
      // in this (the host's) namespace, where containerd calls the shims
      const daemon = p.daemon ? await startBenchDaemon(berthBin, undefined, 3600, 'cri') : undefined
      const node = await CriNode.start({ cniBinDir: p.dir, tag: `b${tag}${i}`, busybox, ...(daemon ? { env: { BERTH_SOCKET: daemon.socket } } : {}) })
      const net: PodNetworkSpec = { kind: 'portmap', name: `berth-crib-${tag}-${i}`, bridge: `btcb${tag}${i}`, prefix: prefixes[i] as string }
      const side: Side = { name: p.name, node, net, hostPort: await freeTcpPort(), run: [], stop: [], remove: [], cpu: [], burstRun: [], burstStop: [], failures: [] }
      if (daemon !== undefined) side.daemon = daemon
      sides.push(side)
      await node.useNetwork(net)
    }
    console.log(
      `bench/containerd: containerd ${(await sides[0]?.node.cri.version())?.runtimeVersion}; ${sides.map((s) => s.name).join(', ')} (${REF_DIR}); ` +
        `bridge + portmap, ${WITH_HOSTPORT ? 'hostPort pods' : 'pods without hostPort (BENCH_HOSTPORT=0)'}; ${ROUNDS} interleaved rounds; ` +
        `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    )
    // warm-up: the first pod of each side pays for page cache and containerd's first snapshot
    for (const s of sides) await onePod(s)
    for (const s of sides) Object.assign(s, { run: [], stop: [], remove: [], cpu: [] })

    const order = (r: number) => sides.map((_, i) => sides[(i + r) % sides.length] as Side)
    for (let r = 0; r < ROUNDS; r++) for (const s of order(r)) await onePod(s)
    for (let r = 0; r < BURST_ROUNDS; r++) for (const s of order(r)) await burst(s)
    report(sides)
    for (const s of sides) if (s.daemon) console.log(`${s.name}: the daemon served ${describeServed(s.daemon.served())}`)
  } finally {
    for (const s of sides) {
      const notes = await s.node.close()
      if (notes.length > 0) console.log(`clean-up of ${s.name} had to force:\n  ${notes.join('\n  ')}`)
    }
  }
}

function report(sides: Side[]): void {
  const ref = sides.find((s) => s.name === 'reference')
  const width = Math.max(...sides.map((s) => s.name.length)) + 4
  const block = (label: string, pick: (s: Side) => number[]) => {
    console.log(label)
    for (const s of sides) {
      const xs = pick(s)
      const vsRef = ref !== undefined && s !== ref ? ratio(median(xs), median(pick(ref))) : ''
      console.log(`  ${s.name.padEnd(width)}${f1(median(xs)).padStart(9)}${f1(p90(xs)).padStart(9)}${vsRef.padStart(11)}`)
    }
  }
  const head = () => console.log(''.padEnd(width + 2) + 'median'.padStart(9) + 'p90'.padStart(9) + 'vs ref'.padStart(11))
  console.log(`\n1. one ${WITH_HOSTPORT ? 'hostPort ' : ''}pod at a time, ms (${sides.map((s) => `${s.run.length} ${s.name}`).join(', ')} pods)`)
  head()
  block('RunPodSandbox', (s) => s.run)
  block('StopPodSandbox', (s) => s.stop)
  block('RemovePodSandbox', (s) => s.remove)
  block('StopPodSandbox + RemovePodSandbox', (s) => s.stop.map((x, i) => x + (s.remove[i] ?? NaN)))
  block('CPU time of the plugins per pod', (s) => s.cpu)
  console.log(`\n2. ${BURST} pods at once, ms (${sides.map((s) => `${s.burstRun.length} ${s.name}`).join(', ')} rounds)`)
  head()
  block(`${BURST} x RunPodSandbox, until the last is up`, (s) => s.burstRun)
  block(`${BURST} x StopPodSandbox + RemovePodSandbox`, (s) => s.burstStop)
  console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  for (const s of sides) {
    if (s.failures.length > 0) {
      console.log(`FAILED ${s.name}: ${s.failures.length} operations, first: ${s.failures[0]}`)
      process.exitCode = 1
    }
  }
}

installCleanup('bench/containerd')
main()
  .catch((e: unknown) => {
    console.error(`bench/containerd: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exitCode = 1
  })
  // the daemon (a tracked child) would keep the process alive
  .finally(cleanup)
