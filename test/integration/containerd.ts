// containerd's CRI (what a Kubernetes node runs), pointed only at berth's bin/, must run pods as it does
// with the reference plugins: this test is the kubelet. It starts a private containerd 1.6 and drives the
// CRI v1 gRPC API (RunPodSandbox, CreateContainer, ExecSync, StopPodSandbox, RemovePodSandbox, ...) for two
// conflists a node would have: bridge (host-local, gateway, masquerade, hairpin) + portmap, and the same
// with firewall, tuning and bandwidth (one pod with the kubelet's bandwidth annotations). For each: three
// pods serving HTTP (busybox httpd), one with a hostPort, reached from the host by pod IP, through the
// host port on 127.0.0.1 and on the bridge gateway, from another pod, from itself through its own host
// port (hairpin), and every pod from every other; a hostNetwork pod; then each pod's removal must leave
// nothing of it (veth, host-local reservation, NAT/portmap/firewall entries, netns, libcni cache, berth's
// records, ifb); and 10 pods started and removed at once get distinct
// addresses and leave nothing either.
//
// LIKE THE PODMAN TEST, THIS ONE RUNS IN THE MACHINE'S OWN NETWORK NAMESPACE, as containerd does on a node:
// the bridges, veths, nftables/iptables entries, /var/lib/cni files and the shim sockets in /run/containerd/s
// are the host's. Accepted because every name is unique to the run (network berth-cri-<tag>-<chain>, bridge
// btcri<tag><n>, cgroup /berth-cri-<tag>, containerd's root, state, socket, runc root and conf dir in a
// temporary directory), the subnets are random /24s in 10.128.0.0/9 that overlap nothing of the host,
// traffic goes only to addresses the test made (pod IPs, the bridge gateway, 127.0.0.1 on free ports),
// and test/helpers/cri/node.ts removes all of it at the end, also when the test fails, times out (SIGALRM)
// or is interrupted: remaining pods through the CRI, then by force (containerd, runc containers, shims,
// a DEL replayed from libcni's cache, mounts, directories, bridges, cgroups).
//
// BERTH_CRI_CNI_BIN=/usr/lib/cni runs the same test on the reference plugins (to check the test itself),
// or on another build of berth;
// BERTH_CONTAINERD_TEST=0 skips it. scripts/setup installs containerd, runc and busybox-static.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { needsBuiltBin, needsRoot } from '../helpers/privileges.js'
import { BIN_DIR } from '../helpers/paths.js'
import { freeTcpPort, freeV4Slash24s } from '../helpers/host-net.js'
import { httpGet, until } from '../helpers/http-probe.js'
import { staticBusybox } from '../helpers/busybox.js'
import { mountsUnder, needsContainerd } from '../helpers/cri/containerd.js'
import { CriNode, isBerthDir } from '../helpers/cri/node.js'
import { attachmentOf, bridgePorts, capabilityArgsOf, cacheFile, CNI_NETWORKS, filterLines, footprint, TUNING_SYSCTL, type Footprint, type PodNetworkSpec, type PodRef } from '../helpers/cri/network.js'
import { referenceIfbName } from '../helpers/ifb.js'
import { podExec, podGet, removePod, runPod, type Pod, type PodSpec } from '../helpers/cri/pods.js'

const PLUGINS = ['bridge', 'host-local', 'portmap', 'firewall', 'tuning', 'bandwidth', 'loopback']
const CNI_BIN = process.env['BERTH_CRI_CNI_BIN'] ?? BIN_DIR
// berth's records are checked when the directory holds berth (bin/ or another build)
const IS_BERTH = isBerthDir(CNI_BIN)
const BUSYBOX = staticBusybox()
const skip =
  (process.env['BERTH_CONTAINERD_TEST'] === '0' ? 'BERTH_CONTAINERD_TEST=0' : false) ||
  needsRoot() ||
  PLUGINS.map((p) => needsBuiltBin(p, CNI_BIN)).find((r) => r !== false) ||
  needsContainerd() ||
  (BUSYBOX !== undefined ? false : 'no static busybox (apt-get install busybox-static) for the images') ||
  false

// Every berth plugin run is a Node process (~0.1-0.2 s of CPU here) and a pod costs 9 of them with
// bridge + portmap, 15 with the full chain (loopback included; ADD, then DEL from both StopPodSandbox and
// RemovePodSandbox): 1-2 minutes on an idle 2-core machine, several times that when other tests load it.
// The file's timeout is raised accordingly.
t.setTimeout(600_000)

const esc = (ip: string) => ip.replace(/\./g, '\\.')
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e))

t.test(`containerd CRI with ${CNI_BIN === BIN_DIR ? "berth's bin/" : CNI_BIN} as the node's CNI plugins`, { skip, timeout: 590_000 }, async (t) => {
  const t0 = Date.now()
  const tag = randomBytes(3).toString('hex')
  const node = await CriNode.start({ cniBinDir: CNI_BIN, tag, busybox: BUSYBOX as string })
  t.teardown(async () => {
    const notes = await node.close()
    if (notes.length > 0) t.comment(`forced clean-up:\n  ${notes.join('\n  ')}`)
  })
  const v = await node.cri.version()
  t.equal(v.runtimeApiVersion, 'v1', `CRI ${v.runtimeApiVersion} from ${v.runtimeName} ${v.runtimeVersion}, started in ${Date.now() - t0} ms`)

  const prefixes = freeV4Slash24s(2)
  const chains: PodNetworkSpec[] = (['portmap', 'full'] as const).map((kind, i) => ({
    kind,
    name: `berth-cri-${tag}-${kind}`,
    bridge: `btcri${tag}${i}`,
    prefix: prefixes[i] as string,
  }))
  for (const net of chains) {
    await t.test(`${net.kind === 'portmap' ? 'bridge + portmap' : 'bridge + portmap + firewall + tuning'} (${net.name}, ${net.prefix}.0/24)`, (t) => chainFlow(t, node, net, tag))
  }

  await t.test('containerd and everything of the test go away without force', async (t) => {
    const dir = node.containerd.dir
    const notes = await node.close()
    t.same(notes, [], 'stopping containerd left nothing to force (no pod, container, shim or mount)')
    t.notOk(existsSync(dir), `${dir} is gone`)
    t.same(mountsUnder(dir), [], 'nothing mounted under it')
    for (const net of chains) {
      t.notOk(existsSync(join('/sys/class/net', net.bridge)), `bridge ${net.bridge} deleted`)
      t.notOk(existsSync(join(CNI_NETWORKS, net.name)), `host-local's ${net.name} directory removed`)
    }
    t.notOk(existsSync(`/sys/fs/cgroup/memory${node.cgroupParent}`), `cgroup ${node.cgroupParent} removed`)
    const mentions = filterLines().filter((l) => chains.some((n) => l.includes(n.name) || l.includes(n.bridge) || new RegExp(`(^|[^0-9.])${esc(n.prefix)}\\.`).test(l)))
    t.same(mentions, [], 'no nftables/iptables line names a network, bridge or subnet of the test')
    t.comment(`whole test: ${Date.now() - t0} ms`)
  })
})

/** The root qdisc of a host link, as `tc -j` shows it. */
function rootQdisc(dev: string): { kind: string; options?: Record<string, unknown> } | undefined {
  const r = spawnSync('tc', ['-j', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' })
  if (r.status !== 0) return undefined
  return (JSON.parse(r.stdout || '[]') as { kind: string; root?: boolean; options?: Record<string, unknown> }[]).find((q) => q.root === true)
}

/** One conflist end to end. */
async function chainFlow(t: Test, node: CriNode, net: PodNetworkSpec, tag: string): Promise<void> {
  const t0 = Date.now()
  const phase = (what: string) => t.comment(`${what}: ${Date.now() - t0} ms`)
  const gateway = `${net.prefix}.1`
  const inSubnet = new RegExp(`^${esc(net.prefix)}\\.\\d+$`)
  const labels = { 'berth.test/run': tag }
  await node.useNetwork(net)
  phase('conflist loaded')

  // Three pods, the first publishing port 80 on a host port, as a kubelet runs them.
  const hostPort = await freeTcpPort()
  const specs: PodSpec[] = ['web0', 'web1', 'web2'].map((name, i) => ({
    name,
    namespace: `berth-${tag}`,
    marker: `berth-cri ${tag} ${net.kind} ${name}`,
    labels,
    ...(i === 0 ? { hostPort } : {}),
    // The kubelet's bandwidth annotations; containerd turns them into the bandwidth capability.
    ...(i === 1 && net.kind === 'full' ? { annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '20M' } } : {}),
  }))
  const pods: Pod[] = []
  for (const spec of specs) {
    try {
      const pod = await runPod(node, spec)
      pods.push(pod)
      t.match(pod.ip, inSubnet, `${spec.name}${spec.hostPort ? ` (hostPort ${spec.hostPort})` : ''}: RunPodSandbox gave ${pod.ip}`)
    } catch (e) {
      t.fail(`${spec.name}${spec.hostPort ? ` (hostPort ${spec.hostPort})` : ''}: ${errText(e)}`)
    }
  }
  phase('pods running')
  if (net.kind === 'full') {
    for (const pod of pods) {
      const { veth } = attachmentOf(net, pod.id)
      const shaped = pod.spec.annotations !== undefined
      const root = veth === undefined ? undefined : rootQdisc(veth)
      if (!shaped) {
        t.not(root?.kind, 'tbf', `${pod.spec.name}: no bandwidth annotation, no tbf on ${String(veth)}`)
        continue
      }
      const caps = capabilityArgsOf(net, pod.id)?.['bandwidth'] as Record<string, number> | undefined
      t.match(caps, { IngressRate: 10_000_000, EgressRate: 20_000_000 }, `${pod.spec.name}: containerd passed the bandwidth capability in Go's spelling: ${JSON.stringify(caps)}`)
      t.match(root, { kind: 'tbf', options: { rate: 1_250_000 } }, `${pod.spec.name}: 10M ingress is a tbf of 1250000 bytes/s on ${String(veth)}`)
      const ifb = referenceIfbName(net.name, pod.id)
      t.match(rootQdisc(ifb), { kind: 'tbf', options: { rate: 2_500_000 } }, `${pod.spec.name}: 20M egress is a tbf of 2500000 bytes/s on ${ifb}`)
    }
  }
  const web0 = pods.find((p) => p.spec.name === 'web0')
  t.equal(new Set(pods.map((p) => p.ip)).size, pods.length, `distinct addresses: ${pods.map((p) => p.ip).join(', ')}`)
  for (const pod of pods) {
    const addr = await podExec(node, pod, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])
    t.match(addr, new RegExp(`inet ${esc(pod.ip)}/24`), `${pod.spec.name}: eth0 holds ${pod.ip}/24`)
    if (net.kind === 'full') {
      const v = (await podExec(node, pod, ['cat', `/proc/sys/${TUNING_SYSCTL.key.replace(/\./g, '/')}`])).trim()
      t.equal(v, TUNING_SYSCTL.value, `${pod.spec.name}: tuning set ${TUNING_SYSCTL.key}=${TUNING_SYSCTL.value}`)
    }
  }

  // From the host: each pod's address; the host port on loopback and on the bridge's gateway address.
  for (const pod of pods) t.match(await until(() => httpGet(pod.ip, 80), pod.spec.marker as string), pod.spec.marker as string, `host -> ${pod.spec.name} ${pod.ip}:80`)
  if (web0) {
    const want = web0.spec.marker as string
    t.match(await until(() => httpGet('127.0.0.1', hostPort), want), want, `host -> 127.0.0.1:${hostPort} (hostPort of web0)`)
    t.match(await until(() => httpGet(gateway, hostPort), want), want, `host -> ${gateway}:${hostPort} (gateway, hostPort of web0)`)
  }
  phase('reached from the host')

  // Pod to pod: every ordered pair by pod IP; another pod and web0 itself (hairpin) through the host port.
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue
      const want = to.spec.marker as string
      t.match(await until(() => podGet(node, from, `http://${to.ip}/`), want, 8000), want, `${from.spec.name} -> ${to.spec.name} ${to.ip}:80`)
    }
  }
  if (web0) {
    const want = web0.spec.marker as string
    for (const from of pods) {
      const what = from === web0 ? 'web0 -> itself (hairpin)' : `${from.spec.name} -> web0`
      t.match(await until(() => podGet(node, from, `http://${gateway}:${hostPort}/`), want, 8000), want, `${what} through ${gateway}:${hostPort}`)
    }
  }
  phase('pod to pod')

  // A hostNetwork pod: no CNI at all, its server in the host's namespace, reached from the host and a pod.
  const hostNetPort = await freeTcpPort()
  const hostNetSpec: PodSpec = { name: 'hostnet', namespace: `berth-${tag}`, hostNetwork: true, port: hostNetPort, marker: `berth-cri ${tag} ${net.kind} hostnet`, labels }
  try {
    const hp = await runPod(node, hostNetSpec)
    const want = hostNetSpec.marker as string
    t.match(await until(() => httpGet('127.0.0.1', hostNetPort), want), want, `hostNetwork pod: host -> 127.0.0.1:${hostNetPort}`)
    const peer = pods[1] ?? pods[0]
    if (peer) t.match(await until(() => podGet(node, peer, `http://${gateway}:${hostNetPort}/`), want, 8000), want, `${peer.spec.name} -> hostNetwork pod at ${gateway}:${hostNetPort}`)
    t.notOk(existsSync(cacheFile(net.name, hp.id)), 'no CNI ADD for the hostNetwork pod (no libcni cache file)')
    await removePod(node, hp)
    t.notOk((await httpGet('127.0.0.1', hostNetPort, 1000)).includes(want), 'hostNetwork pod removed: its port answers no more')
  } catch (e) {
    t.fail(`hostNetwork pod: ${errText(e)}`)
  }
  phase('hostNetwork pod')

  // What each pod has on the host, then its removal must take all of it.
  const refs = new Map<Pod, PodRef>(pods.map((p) => [p, { id: p.id, ip: p.ip, ...attachmentOf(net, p.id) }]))
  const before = filterLines()
  for (const pod of pods) {
    const ref = refs.get(pod) as PodRef
    const fp = footprint(net, ref, before)
    const present = (k: keyof Footprint) => fp[k].length > 0
    t.ok(ref.veth !== undefined && present('veth'), `${pod.spec.name} before removal: host veth ${String(ref.veth)}`)
    t.ok(present('reservation'), `${pod.spec.name} before removal: host-local reservation`)
    t.ok(present('filter'), `${pod.spec.name} before removal: packet filter entries carry its ID or address (${fp.filter.length})`)
    t.ok(present('netns'), `${pod.spec.name} before removal: netns ${String(ref.netns)}`)
    t.equal(fp.cache.length, 2, `${pod.spec.name} before removal: libcni cache files of ${net.name} and cni-loopback`)
    if (IS_BERTH) t.ok(present('records'), `${pod.spec.name} before removal: berth's records (${fp.records.length})`)
    if (pod.spec.annotations !== undefined) t.ok(present('ifb'), `${pod.spec.name} before removal: its ifb`)
  }
  for (const pod of pods) {
    try {
      await removePod(node, pod)
    } catch (e) {
      t.fail(`${pod.spec.name}: ${errText(e)}`)
      continue
    }
    const fp = footprint(net, refs.get(pod) as PodRef)
    t.same(fp, { veth: [], reservation: [], filter: [], netns: [], cache: [], records: [], ifb: [] }, `${pod.spec.name} removed: nothing of it is left`)
  }
  t.same(bridgePorts(net.bridge), [], `no port left on ${net.bridge}`)
  if (web0) t.notOk((await httpGet('127.0.0.1', hostPort, 1000)).includes(web0.spec.marker as string), `127.0.0.1:${hostPort} answers no more`)
  phase('pods removed')

  // Ten pods at once, as a kubelet's pod workers start them, then all removed at once.
  const many = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => runPod(node, { name: `burst${i}`, namespace: `berth-${tag}`, labels })),
  )
  const started = many.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failures = many.flatMap((r) => (r.status === 'rejected' ? [errText(r.reason)] : []))
  t.same(failures, [], `10 concurrent RunPodSandbox: ${started.length} started`)
  const ips = started.map((p) => p.ip)
  t.ok(ips.every((ip) => inSubnet.test(ip)), `all in ${net.prefix}.0/24: ${ips.join(' ')}`)
  t.equal(new Set(ips).size, started.length, 'all addresses distinct')
  const manyRefs = started.map((p) => ({ id: p.id, ip: p.ip, ...attachmentOf(net, p.id) }))
  const ports = bridgePorts(net.bridge)
  t.ok(manyRefs.every((r) => r.veth !== undefined && ports.includes(r.veth)), `each pod's veth is on ${net.bridge}`)
  const removed = await Promise.allSettled(started.map((p) => removePod(node, p)))
  t.same(removed.flatMap((r) => (r.status === 'rejected' ? [errText(r.reason)] : [])), [], '10 concurrent StopPodSandbox + RemovePodSandbox')
  const after = filterLines()
  const leftovers = manyRefs.flatMap((r) => Object.entries(footprint(net, r, after)).flatMap(([k, v]) => (v as string[]).map((x) => `${r.id.slice(0, 12)} ${k}: ${x}`)))
  t.same(leftovers, [], 'nothing of the 10 pods is left')
  t.same(bridgePorts(net.bridge), [], `no port left on ${net.bridge}`)
  phase('10 concurrent pods')

  const netnsDir = join(node.containerd.dir, 'state', 'io.containerd.grpc.v1.cri', 'netns')
  t.same(existsSync(netnsDir) ? readdirSync(netnsDir) : [], [], 'no netns left in containerd\'s state')
  t.same(await node.cri.listPodSandbox(labels), [], 'containerd lists no pod of the test')
}
