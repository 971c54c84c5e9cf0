// Pod network set-up and tear-down as a Kubernetes node pays for it: containerd 1.6's CRI driven the way a
// kubelet drives it (test/helpers/cri, the harness of test/integration/containerd.ts), with berth's bin/ and
// the reference plugins (/usr/lib/cni) side by side in one run. Two private containerds, one per plugin
// directory, each with the bridge (host-local, gateway, masquerade, hairpin) + portmap conflist:
//   1. RunPodSandbox of a pod publishing a hostPort, then StopPodSandbox and RemovePodSandbox, one pod at
//      a time, in BENCH_ROUNDS interleaved rounds (default 20; the side that goes first alternates);
//      median and p90 wall time of each call and the CPU time of containerd's waited-for children per pod
//      (the CNI plugins, plus the shim launcher both sides pay alike).
//   2. BENCH_BURST (default 10) pods started at once, then all stopped and removed at once, in
//      BENCH_BURST_ROUNDS interleaved rounds (default 3): wall time until the last one is done.
// The pods are sandboxes only (the "pause" container): RunPodSandbox is where the network is made. Wall
// times include containerd's own work (snapshot, runc, shim), the same on both sides, so the ratios
// understate the plugins' difference; the CPU column isolates the plugins better. Not an assertion.
//
// Like the test, this runs in the machine's own network namespace, as containerd does on a node, with
// unique names (bridges btcb<tag>0/1, networks berth-crib-<tag>-*), random free /24s and free host ports,
// and removes everything at the end, also on Ctrl-C. The reference plugins leave their shared iptables
// chains (CNI-HOSTPORT-*) behind, as they do on any node.
import { cpSync, existsSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { errMsg, f1, installCleanup, median, ratio, tempDir } from './lib/harness.js'
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

interface Side {
  name: 'berth' | 'reference'
  node: CriNode
  net: PodNetworkSpec
  hostPort: number
  run: number[]
  stop: number[]
  remove: number[]
  /** CPU ms of containerd's children per pod (ADD + DEL of the whole chain, loopback included) */
  cpu: number[]
  burstRun: number[]
  burstStop: number[]
  failures: string[]
}

/** user + system CPU time (ms) of the waited-for children of process `pid` (its CNI plugin runs). */
function childrenCpuMs(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[13]) + Number(fields[14])) * 10
}

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
const podSpec = (s: Side, hostPort?: number): PodSpec => ({ name: `bench-${s.name}-${seq++}`, namespace: 'berth-bench', ...(hostPort ? { hostPort } : {}) })

/** One pod with the side's hostPort: RunPodSandbox, StopPodSandbox, RemovePodSandbox, each timed. */
async function onePod(s: Side): Promise<void> {
  const cpu0 = childrenCpuMs(s.node.containerd.pid)
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
  s.cpu.push(childrenCpuMs(s.node.containerd.pid) - cpu0)
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
  const prefixes = freeV4Slash24s(2)
  const sides: Side[] = []
  try {
    for (const [i, [name, dir]] of ([['berth', berthBin], ['reference', REF_DIR]] as const).entries()) {
      const node = await CriNode.start({ cniBinDir: dir, tag: `b${tag}${i}`, busybox })
      const net: PodNetworkSpec = { kind: 'portmap', name: `berth-crib-${tag}-${name}`, bridge: `btcb${tag}${i}`, prefix: prefixes[i] as string }
      sides.push({ name, node, net, hostPort: await freeTcpPort(), run: [], stop: [], remove: [], cpu: [], burstRun: [], burstStop: [], failures: [] })
      await node.useNetwork(net)
    }
    console.log(
      `bench/containerd: containerd ${(await sides[0]?.node.cri.version())?.runtimeVersion}, berth bin/ vs reference ${REF_DIR}; ` +
        `bridge + portmap, ${WITH_HOSTPORT ? 'hostPort pods' : 'pods without hostPort (BENCH_HOSTPORT=0)'}; ${ROUNDS} interleaved rounds; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    )
    // warm-up: the first pod of each side pays for page cache and containerd's first snapshot
    for (const s of sides) await onePod(s)
    for (const s of sides) Object.assign(s, { run: [], stop: [], remove: [], cpu: [] })

    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) await onePod(s)
    }
    for (let r = 0; r < BURST_ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) await burst(s)
    }
    report(sides)
  } finally {
    for (const s of sides) {
      const notes = await s.node.close()
      if (notes.length > 0) console.log(`clean-up of ${s.name} had to force:\n  ${notes.join('\n  ')}`)
    }
  }
}

function report(sides: Side[]): void {
  const [b, r] = sides as [Side, Side]
  const row = (label: string, pick: (s: Side) => number[]) => {
    const bm = median(pick(b))
    const rm = median(pick(r))
    console.log(
      label.padEnd(34) + f1(bm).padStart(9) + f1(p90(pick(b))).padStart(9) + f1(rm).padStart(11) + f1(p90(pick(r))).padStart(9) + ratio(bm, rm).padStart(12),
    )
  }
  console.log(`\n1. one ${WITH_HOSTPORT ? 'hostPort ' : ''}pod at a time, ms (${b.run.length} berth / ${r.run.length} reference pods)`)
  console.log(''.padEnd(34) + 'berth med'.padStart(9) + 'p90'.padStart(9) + 'ref med'.padStart(11) + 'p90'.padStart(9) + 'berth/ref'.padStart(12))
  row('RunPodSandbox', (s) => s.run)
  row('StopPodSandbox', (s) => s.stop)
  row('RemovePodSandbox', (s) => s.remove)
  row('StopPodSandbox + RemovePodSandbox', (s) => s.stop.map((x, i) => x + (s.remove[i] ?? NaN)))
  row('CPU of the plugins per pod', (s) => s.cpu)
  console.log(`\n2. ${BURST} pods at once, ms (median of ${b.burstRun.length} berth / ${r.burstRun.length} reference rounds)`)
  console.log(''.padEnd(34) + 'berth med'.padStart(9) + 'p90'.padStart(9) + 'ref med'.padStart(11) + 'p90'.padStart(9) + 'berth/ref'.padStart(12))
  row(`${BURST} x RunPodSandbox`, (s) => s.burstRun)
  row(`${BURST} x Stop + Remove`, (s) => s.burstStop)
  console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  for (const s of sides) {
    if (s.failures.length > 0) {
      console.log(`FAILED ${s.name}: ${s.failures.length} operations, first: ${s.failures[0]}`)
      process.exitCode = 1
    }
  }
}

installCleanup('bench/containerd')
main().catch((e: unknown) => {
  console.error(`bench/containerd: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
  process.exitCode = 1
})
