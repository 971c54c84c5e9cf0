// The pod network of a test node: the conflists a Kubernetes node would have in /etc/cni/net.d, what one pod
// leaves on the host (its "footprint": veth, host-local reservation, packet filter entries, netns, libcni's
// cache files, berth's records), and the forced removal of a network when containerd could not tear it
// down (a DEL replayed from libcni's cache, as libcni itself would run it).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { netnsFileKey } from '../../../pkg/ns/netns.js'
import type { TrackedSandbox } from './pods.js'
import { referenceIfbName } from '../ifb.js'

export const CNI_NETWORKS = '/var/lib/cni/networks'
export const CNI_RESULTS = '/var/lib/cni/results'
// berth's per-host-namespace records (plugins/bridge/state.ts, plugins/portmap/records.ts) and tuning's
// saved state (plugins/tuning/config.ts)
const BERTH_RECORD_ROOTS = ['/run/berth/bridge', '/run/berth/portmap']
const TUNING_STATE = '/run/cni/tuning'

export type ChainKind = 'portmap' | 'full'

export interface PodNetworkSpec {
  /** network name, unique to the run */
  name: string
  bridge: string
  /** "10.X.Y": the /24 is `${prefix}.0/24`, the gateway `${prefix}.1` */
  prefix: string
  kind: ChainKind
}

/** A sysctl the `full` chain's tuning plugin sets in every pod, so a test can see tuning ran. */
export const TUNING_SYSCTL = { key: 'net.ipv4.tcp_keepalive_time', value: '3600' }

/**
 * The conflist of a Kubernetes node: bridge (host-local, gateway, masquerade, hairpin for pods reaching
 * themselves through their hostPort) + portmap with the portMappings capability; `full` adds firewall and
 * tuning and bandwidth (the kubelet's pod bandwidth annotations). cniVersion 1.0.0, the newest the reference plugins of Debian 12 speak.
 */
export function conflist(spec: PodNetworkSpec): { cniVersion: string; name: string; plugins: Record<string, unknown>[] } {
  const plugins: Record<string, unknown>[] = [
    {
      type: 'bridge',
      bridge: spec.bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: `${spec.prefix}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }] },
    },
    { type: 'portmap', capabilities: { portMappings: true } },
  ]
  if (spec.kind === 'full') {
    plugins.push({ type: 'firewall' }, { type: 'tuning', sysctl: { [TUNING_SYSCTL.key]: TUNING_SYSCTL.value } }, { type: 'bandwidth', capabilities: { bandwidth: true } })
  }
  return { cniVersion: '1.0.0', name: spec.name, plugins }
}

/** libcni's cache file of an attachment (containerd 1.6 writes them where libcni defaults to). */
export const cacheFile = (net: string, id: string, ifName = 'eth0') => join(CNI_RESULTS, `${net}-${id}-${ifName}`)

interface CacheEntry {
  containerId: string
  config: string
  ifName: string
  networkName: string
  cniArgs?: [string, string][]
  capabilityArgs?: Record<string, unknown>
  result?: { interfaces?: { name: string; sandbox?: string }[] }
}

function readCache(path: string): CacheEntry | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CacheEntry
  } catch {
    return undefined
  }
}

/** The host end of a pod's veth and its netns path, from libcni's cache (the result containerd got). */
/** The capability arguments containerd passed for an attachment (libcni's cache). */
export const capabilityArgsOf = (net: PodNetworkSpec, id: string): Record<string, unknown> | undefined => readCache(cacheFile(net.name, id))?.capabilityArgs

export function attachmentOf(net: PodNetworkSpec, id: string): { veth?: string; netns?: string } {
  const ifs = readCache(cacheFile(net.name, id))?.result?.interfaces ?? []
  return { veth: ifs.find((i) => i.sandbox === undefined && i.name !== net.bridge)?.name, netns: ifs.find((i) => i.sandbox !== undefined)?.sandbox }
}

export interface PodRef {
  id: string
  ip: string
  veth?: string
  netns?: string
}

/** What of one pod is on the host, by kind; every list empty means nothing is left. */
export interface Footprint {
  veth: string[]
  reservation: string[]
  filter: string[]
  netns: string[]
  cache: string[]
  records: string[]
  /** the bandwidth plugin's ifb of the pod */
  ifb: string[]
}

const ipRe = (ip: string) => new RegExp(`(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)`)

/**
 * The packet filter state as lines: nftables ruleset and iptables-save of both families (the reference
 * plugins write through iptables, which is nft-backed here, and legacy when that is what is installed).
 */
export function filterLines(): string[] {
  const parts: string[] = []
  for (const [cmd, args] of [['nft', ['list', 'ruleset']], ['iptables-save', []], ['ip6tables-save', []], ['iptables-legacy-save', []]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 })
    if (r.status === 0) parts.push(r.stdout)
  }
  return parts.join('\n').split('\n')
}

/** Every file under dir, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    try {
      if (statSync(p).isDirectory()) out.push(...filesUnder(p))
      else out.push(p)
    } catch {
      // removed meanwhile
    }
  }
  return out
}

const readText = (p: string): string => {
  try {
    return readFileSync(p, 'utf8')
  } catch {
    return ''
  }
}

/** This host namespace's key in berth's record directories. */
function hostNetnsKey(): string {
  return netnsFileKey('/proc/self/ns/net')
}

/** What pod `pod` has on the host now. `filter` may be passed in to share one ruleset listing among pods. */
export function footprint(net: PodNetworkSpec, pod: PodRef, filter = filterLines()): Footprint {
  const short = pod.id.slice(0, 12)
  const hasIp = ipRe(pod.ip)
  const veth = pod.veth !== undefined && spawnSync('ip', ['link', 'show', 'dev', pod.veth], { stdio: 'ignore' }).status === 0 ? [pod.veth] : []
  const netDir = join(CNI_NETWORKS, net.name)
  const reservation = filesUnder(netDir).filter((f) => f === join(netDir, pod.ip) || readText(f).includes(pod.id))
  const filterHits = filter.filter((l) => l.includes(short) || hasIp.test(l))
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
  const netns = pod.netns !== undefined && (existsSync(pod.netns) || mounted.includes(pod.netns)) ? [pod.netns] : []
  const cache = [cacheFile(net.name, pod.id), cacheFile('cni-loopback', pod.id, 'lo')].filter((f) => existsSync(f))
  const key = hostNetnsKey()
  const recordFiles = [...BERTH_RECORD_ROOTS.flatMap((r) => filesUnder(join(r, key))), ...filesUnder(TUNING_STATE)]
  const records = recordFiles.filter((f) => f.includes(pod.id) || f.endsWith(`/nat/${pod.ip}`) || readText(f).includes(short))
  const ifbName = referenceIfbName(net.name, pod.id)
  const ifb = existsSync(join('/sys/class/net', ifbName)) ? [ifbName] : []
  return { veth, reservation, filter: filterHits, netns, cache, records, ifb }
}

/** The bridge's ports (host ends of veths) now. */
export function bridgePorts(bridge: string): string[] {
  const r = spawnSync('ip', ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' })
  if (r.status !== 0) return []
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname)
}

/**
 * Forced removal of a network after containerd could not tear its pods down (or was killed): first the
 * DEL containerd should have run, for every attachment libcni has a cache file of (as libcni runs it: each
 * plugin of the cached conflist in reverse order, with the cached CNI_ARGS, capabilities and result), and
 * for every sandbox in `sandboxes` without one (a failed ADD leaves no cache: this network's conflist, the
 * pod's arguments, its port mappings in the CNI spelling), going on past a failing plugin. Then what a
 * node's administrator would remove with the network: the bridge, host-local's directory and berth's
 * per-network NAT chain and sets (plugins/bridge/masq.ts keeps them when the last pod leaves). Returns
 * what was forced (empty when there was nothing to do).
 */
export function forceRemoveNetwork(net: PodNetworkSpec, binDir: string, sandboxes: ReadonlyMap<string, TrackedSandbox>): string[] {
  const notes: string[] = []
  const done = new Set<string>()
  const files = existsSync(CNI_RESULTS) ? readdirSync(CNI_RESULTS).filter((f) => f.startsWith(`${net.name}-`)) : []
  for (const f of files) {
    const entry = readCache(join(CNI_RESULTS, f))
    if (entry !== undefined) {
      done.add(entry.containerId)
      try {
        const list = JSON.parse(Buffer.from(entry.config, 'base64').toString('utf8')) as ConfList
        const netns = entry.result?.interfaces?.find((i) => i.sandbox !== undefined)?.sandbox
        notes.push(...chainDel(list, binDir, { ...entry, netns }))
      } catch {
        notes.push(`cache of ${entry.containerId.slice(0, 12)}: unreadable conflist, no DEL`)
      }
      rmSync(cacheFile('cni-loopback', entry.containerId, 'lo'), { force: true })
    }
    rmSync(join(CNI_RESULTS, f), { force: true })
    notes.push(`libcni cache ${f} removed`)
  }
  for (const [id, sb] of sandboxes) {
    if (done.has(id)) continue
    const md = sb.config?.metadata
    const cniArgs: [string, string][] = [['IgnoreUnknown', '1'], ['K8S_POD_INFRA_CONTAINER_ID', id]]
    if (md) cniArgs.push(['K8S_POD_NAMESPACE', md.namespace], ['K8S_POD_NAME', md.name], ['K8S_POD_UID', md.uid])
    const portMappings = (sb.config?.portMappings ?? [])
      .filter((m) => (m.hostPort ?? 0) > 0)
      .map((m) => ({ hostPort: m.hostPort, containerPort: m.containerPort, protocol: (m.protocol ?? 'TCP').toLowerCase(), hostIP: m.hostIp ?? '' }))
    notes.push(...chainDel(conflist(net), binDir, { containerId: id, ifName: 'eth0', netns: sb.netns, cniArgs, capabilityArgs: { portMappings } }))
    rmSync(cacheFile('cni-loopback', id, 'lo'), { force: true })
  }
  if (spawnSync('ip', ['link', 'show', 'dev', net.bridge], { stdio: 'ignore' }).status === 0) spawnSync('ip', ['link', 'del', 'dev', net.bridge], { stdio: 'ignore' })
  rmSync(join(CNI_NETWORKS, net.name), { recursive: true, force: true })
  const h = createHash('sha256').update(net.name).digest('hex').slice(0, 12)
  // the chain first (its rules use the sets); each fails harmlessly when absent or still referenced
  for (const obj of [`chain inet berth_bridge net_${h}`, `set inet berth_bridge dst4_${h}`, `set inet berth_bridge dst6_${h}`]) {
    spawnSync('nft', ['delete', ...obj.split(' ')], { stdio: 'ignore' })
  }
  return notes
}

type ConfList = { cniVersion: string; name: string; plugins: Record<string, unknown>[] }

/** DEL through a conflist in reverse plugin order, as libcni does, but past failures; one note per plugin. */
function chainDel(
  list: ConfList,
  binDir: string,
  a: { containerId: string; ifName: string; netns?: string; cniArgs?: [string, string][]; capabilityArgs?: Record<string, unknown>; result?: unknown },
): string[] {
  const env = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: 'DEL',
    CNI_CONTAINERID: a.containerId,
    CNI_NETNS: a.netns !== undefined && existsSync(a.netns) ? a.netns : '',
    CNI_IFNAME: a.ifName,
    CNI_ARGS: (a.cniArgs ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: binDir,
  }
  return [...list.plugins].reverse().map((plugin) => {
    const caps = Object.keys((plugin['capabilities'] as Record<string, boolean> | undefined) ?? {}).filter((c) => a.capabilityArgs?.[c] !== undefined)
    const conf = {
      ...plugin,
      name: list.name,
      cniVersion: list.cniVersion,
      ...(a.result !== undefined ? { prevResult: a.result } : {}),
      ...(caps.length > 0 ? { runtimeConfig: Object.fromEntries(caps.map((c) => [c, a.capabilityArgs?.[c]])) } : {}),
    }
    const r = spawnSync(join(binDir, String(plugin['type'])), [], { env, input: JSON.stringify(conf), encoding: 'utf8', timeout: 60_000 })
    return `forced DEL ${String(plugin['type'])} of ${a.containerId.slice(0, 12)} on ${list.name}: ${r.status === 0 ? 'ok' : `exit ${String(r.status)} ${r.stdout.trim()}`}`
  })
}

/** Removes /var/lib/cni when no file is left in it: for a test that found it missing and created it. */
export function removeEmptyCniState(): void {
  if (filesUnder('/var/lib/cni').length === 0) rmSync('/var/lib/cni', { recursive: true, force: true })
}

/** nftables tables now, as "family name" (iptables-nft keeps its tables there too). */
export function nftTables(): string[] {
  const r = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8', timeout: 20_000 })
  return r.status === 0 ? r.stdout.split('\n').flatMap((l) => (l.startsWith('table ') ? [l.slice(6).trim()] : [])) : []
}

// The rules the reference plugins put in the host's iptables and never take out (portmap's CNI-HOSTPORT-*
// jumps and masquerade, firewall's CNI-FORWARD/CNI-ADMIN jumps), as iptables-save prints them.
const REFERENCE_SCAFFOLDING = [
  /^-A (PREROUTING|OUTPUT) -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT$/,
  /^-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ$/,
  /^-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000\/0x2000 -j MASQUERADE$/,
  /^-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000\/0x2000$/,
  /^-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD$/,
  /^-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN$/,
]

/**
 * After a run of the reference plugins: the iptables tables (ip/ip6 nat and filter) that were not there in
 * `tablesBefore` and now hold nothing but the reference's shared scaffolding are deleted, so the host is
 * left as found. A table with any other rule (someone else's) stays. Returns the tables deleted.
 */
export function removeReferenceScaffolding(tablesBefore: readonly string[]): string[] {
  const now = nftTables()
  const removed: string[] = []
  for (const [family, table, save] of [['ip', 'nat', 'iptables-save'], ['ip6', 'nat', 'ip6tables-save'], ['ip', 'filter', 'iptables-save'], ['ip6', 'filter', 'ip6tables-save']] as const) {
    const name = `${family} ${table}`
    if (tablesBefore.includes(name) || !now.includes(name)) continue
    const r = spawnSync(save, ['-t', table], { encoding: 'utf8', timeout: 20_000 })
    if (r.status !== 0) continue
    const rules = r.stdout.split('\n').filter((l) => l.startsWith('-A '))
    if (rules.every((l) => REFERENCE_SCAFFOLDING.some((re) => re.test(l))) && spawnSync('nft', ['delete', 'table', family, table]).status === 0) removed.push(name)
  }
  return removed
}
