// The conflists `berth net create` writes (pure: no I/O), and what `net ls` reads back from any conflist.
// Bridge networks have podman's shape (its `podman network create` output, see the podman notes):
//   bridge (isGateway, ipMasq, hairpinMode, capabilities ips+mac, host-local IPAM with a default route per
//   family) → portmap (portMappings) → firewall → tuning.
// One difference: podman declares only the "ips" capability on bridge; berth adds "mac" so `berth run`
// can pass a MAC (the bridge plugin reads runtimeConfig.mac, as the reference one does).
// --internal drops the gateway, the default routes and masquerading (isGateway/ipMasq false).
// vxlan networks put the overlay-vxlan plugin first instead, with the cluster CIDR split per host.
// macvlan networks are podman's `network create -d macvlan -o parent=IF --subnet S`: the macvlan plugin
// alone (the containers are on the parent's segment: nothing to publish, masquerade or open), with the
// same host-local IPAM and, here too, the mac capability.
import type { PluginConf } from '../../pkg/cni/schema.js'

export const CONFLIST_VERSION = '1.1.0'

export interface BridgeNetworkSpec {
  name: string
  bridge: string
  /** canonical subnets, IPv4 and/or IPv6; each gets its own range set */
  subnets: { subnet: string; gateway?: string | undefined }[]
  internal: boolean
  mtu?: number | undefined
  /** host-local dataDir */
  dataDir: string
}

export interface MacvlanNetworkSpec {
  name: string
  /** the master; undefined: the plugin takes the interface of the host's default route */
  parent?: string | undefined
  subnets: { subnet: string; gateway?: string | undefined }[]
  internal: boolean
  mtu?: number | undefined
  dataDir: string
}

export interface VxlanNetworkSpec {
  name: string
  clusterCidr: string
  /** 1 unless given; `berth net create` picks one no other vxlan network in the conf dir uses */
  vni?: number | undefined
  mtu?: number | undefined
}

const tail = (): PluginConf[] => [
  { type: 'portmap', capabilities: { portMappings: true } },
  { type: 'firewall', backend: '' },
  { type: 'tuning' },
]

/** host-local for the subnets: one range set each, a default route per family unless internal. */
function hostLocalIpam(s: Pick<BridgeNetworkSpec, 'subnets' | 'internal' | 'dataDir'>): PluginConf['ipam'] & object {
  const families = new Set(s.subnets.map((r) => (r.subnet.includes(':') ? 6 : 4)))
  const routes = s.internal ? [] : [...(families.has(4) ? [{ dst: '0.0.0.0/0' }] : []), ...(families.has(6) ? [{ dst: '::/0' }] : [])]
  return {
    type: 'host-local',
    ...(routes.length > 0 ? { routes } : {}),
    ranges: s.subnets.map((r) => [{ subnet: r.subnet, ...(s.internal || r.gateway === undefined ? {} : { gateway: r.gateway }) }]),
    dataDir: s.dataDir,
  }
}

export function bridgeConflist(s: BridgeNetworkSpec): Record<string, unknown> {
  const bridge: PluginConf = {
    type: 'bridge',
    bridge: s.bridge,
    isGateway: !s.internal,
    ipMasq: !s.internal,
    hairpinMode: true,
    ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
    capabilities: { ips: true, mac: true },
    ipam: hostLocalIpam(s),
  }
  return { cniVersion: CONFLIST_VERSION, name: s.name, plugins: [bridge, ...tail()] }
}

export function macvlanConflist(s: MacvlanNetworkSpec): Record<string, unknown> {
  const macvlan: PluginConf = {
    type: 'macvlan',
    ...(s.parent !== undefined ? { master: s.parent } : {}),
    ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
    capabilities: { ips: true, mac: true },
    ipam: hostLocalIpam(s),
  }
  return { cniVersion: CONFLIST_VERSION, name: s.name, plugins: [macvlan] }
}

export function vxlanConflist(s: VxlanNetworkSpec): Record<string, unknown> {
  const overlay: PluginConf = {
    type: 'overlay-vxlan',
    clusterCidr: s.clusterCidr,
    subnetLen: 24,
    vni: s.vni ?? 1,
    store: { type: 'file' },
    ...(s.mtu !== undefined ? { mtu: s.mtu } : {}),
  }
  return { cniVersion: CONFLIST_VERSION, name: s.name, plugins: [overlay, ...tail()] }
}

/** What `net ls` shows of any conflist (berth's or not). */
export interface NetworkSummary {
  driver: string
  subnets: string[]
  bridge?: string
  /** a macvlan network's parent (master) */
  parent?: string
  internal: boolean
}

export function summarize(plugins: readonly PluginConf[]): NetworkSummary {
  const first = plugins[0]
  const subnets: string[] = []
  const ipam = first?.ipam as Record<string, unknown> | undefined
  if (ipam !== undefined) {
    if (Array.isArray(ipam['ranges'])) {
      for (const set of ipam['ranges']) if (Array.isArray(set)) for (const r of set) if (typeof r?.subnet === 'string') subnets.push(r.subnet)
    }
    if (typeof ipam['subnet'] === 'string') subnets.push(ipam['subnet'])
  }
  if (first !== undefined && typeof first['clusterCidr'] === 'string') subnets.push(first['clusterCidr'])
  const out: NetworkSummary = {
    driver: first?.type === 'overlay-vxlan' ? 'vxlan' : (first?.type ?? ''),
    subnets,
    internal:
      (first?.type === 'bridge' && first['isGateway'] !== true && first['ipMasq'] !== true) ||
      // a macvlan network has no gateway of its own: internal when its IPAM gives no route out
      (first?.type === 'macvlan' && ipam !== undefined && !Array.isArray(ipam['routes'])),
  }
  if (first !== undefined && typeof first['bridge'] === 'string') out.bridge = first['bridge']
  if (first?.type === 'macvlan' && typeof first['master'] === 'string') out.parent = first['master']
  return out
}
