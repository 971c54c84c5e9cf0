// A host's side of an overlay network, shared by the plugin's ADD and the agent: the underlay, the VTEP,
// the host's lease, the network's NAT, and one pass of peer reconciliation.
import type { Log } from '../log/log.js'
import type { Rtnl } from '../link/rtnl.js'
import type { NetnsHandle } from '../ns/netns.js'
import type { Rollback } from '../rollback/rollback.js'
import { delLinkIfExists } from '../link/link.js'
import type { OverlayNetwork } from './config.js'
import { hasMasquerade, setupMasquerade, teardownMasquerade } from './masq.js'
import { planPeers, reconcilePeers, type ReconcileStats } from './reconcile.js'
import type { Lease, LeaseStore } from './store.js'
import { findUnderlay, type Underlay } from './underlay.js'
import { ensureVtep, setVtepAddress, type Vtep } from './vtep.js'

export interface HostSide {
  underlay: Underlay
  vtep: Vtep
  lease: Lease
  /** this host's key in the store: its underlay address (as flannel keys leases by public IP) */
  hostId: string
}

export interface PrepareOptions {
  rt: Rtnl
  /** the host namespace (undefined: the current one), for nftables */
  ns: NetnsHandle | undefined
  net: OverlayNetwork
  store: LeaseStore
  /** when given, everything this call creates registers its undo */
  rb?: Rollback
  log: Log
}

/** Makes the host ready for the network: nothing is changed before the store has accepted the network. */
export async function prepareHost(o: PrepareOptions): Promise<HostSide> {
  const { rt, net, store, rb } = o
  const underlay = await findUnderlay(rt, net.underlayInterface)
  const hostId = underlay.ip
  // 1. The store: the network's record (overlap and VNI checks) and, below, the lease. Unreachable → 11.
  await store.registerNetwork({ network: net.name, clusterCidr: net.clusterCidr, subnetLen: net.subnetLen, vni: net.vni })
  const hadLease = (await store.list(net.name)).some((l) => l.hostId === hostId)

  // 2. The VTEP device.
  const vtep = await ensureVtep(rt, net, underlay)
  if (vtep.created) rb?.defer(`delete VXLAN device ${net.vxlanName}`, () => delLinkIfExists(rt, vtep.link.index))

  // 3. The lease, then the VTEP's address in the leased subnet.
  const lease = await store.acquire({
    network: net.name,
    hostId,
    publicIp: underlay.ip,
    vtepMac: vtep.mac,
    ttlMs: net.leaseTtlMs,
    directRoutingOk: net.directRouting,
  })
  if (!hadLease) rb?.defer(`release the lease on ${lease.subnet}`, () => store.release(net.name, hostId))
  await setVtepAddress(rt, vtep.link, lease.subnet)

  // 4. NAT for traffic leaving the cluster CIDR (one rule set per network).
  if (!hasMasquerade(o.ns, net.name)) {
    setupMasquerade(o.ns, net.name, net.clusterCidr)
    rb?.defer('remove the network NAT', () => teardownMasquerade(o.ns, net.name))
  }
  return { underlay, vtep, lease, hostId }
}

/** One reconcile pass: the kernel's peer entries brought to `leases` (live leases of the network). */
export function syncPeers(rt: Rtnl, net: OverlayNetwork, host: Pick<HostSide, 'underlay' | 'vtep' | 'hostId'>, leases: readonly Lease[]): Promise<ReconcileStats> {
  const plan = planPeers(leases, { hostId: host.hostId, clusterCidr: net.clusterCidr, underlayCidr: host.underlay.cidr, directRouting: net.directRouting })
  return reconcilePeers(rt, plan, { vxlan: host.vtep.link, underlay: host.underlay.link, clusterCidr: net.clusterCidr })
}
