// The overlay's control plane: which host holds which subnet of a network's cluster CIDR.
//
// Contract for the plugin and the agent (helper O2 codes against this; change it only together):
//
// - A network is registered once (registerNetwork) with its cluster CIDR, per-host subnet length and VNI;
//   registering again with the same values is a no-op; a different CIDR/subnetLen/VNI for the same name, a
//   cluster CIDR overlapping ANOTHER network's, or another network's VNI is CniError 7 (InvalidConfig).
//   acquire() on a network never registered is CniError 7 too.
// - acquire() gives the host (hostId) its lease: its existing live lease renewed (same subnet), else the
//   subnet it held before if nobody took it meanwhile, else a free subnet, chosen atomically (file lock or
//   etcd compare-and-swap) so two hosts never hold the same subnet. No free subnet → CniError 100.
// - renew() extends a lease; when the lease was lost (expired AND its subnet taken by someone else, or
//   released) it throws LeaseLostError (lease.ts; a CniError 11): call acquire() again, the host may get a new subnet.
// - list() returns live (unexpired) leases only, sorted by subnet. (etcd: "live" = the key exists; etcd
//   expires it, so host clocks need not agree and expiresAt is informative there.)
// - Subnet choice (subnet-alloc.ts): the host's live lease, else preferSubnet, else the subnet it held last,
//   else random among the 100 lowest free subnets, subnets other hosts held last coming only after the rest.
// - watch() calls onChange with the full list of live leases once at the start and then whenever the set
//   changes: a lease added, released, expired, or its publicIp/vtepMac/directRoutingOk changed. Renewals that
//   only move expiresAt do NOT fire. When the store cannot be reached the watch never reports an empty list:
//   it calls onError (if given; at once, then at most every 30 s while the trouble lasts) and keeps the last
//   list; once the store is back it re-lists and fires if the set changed meanwhile. A file store watch
//   notices an expiry within a few ms of it (a timer), an etcd watch when etcd deletes the key (about the TTL).
// - An unreachable store (etcd down) is CniError 11 (TryAgainLater) naming the endpoints; bad names are 7.
// - openStore() is synchronous and cheap: the etcd client is imported only when the etcd store is first used.
// - Network names match /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/, host IDs the same plus ":" (an IPv6 underlay
//   address is a fine host ID); else code 7. vtepMac is stored lower-case.
// - TTLs are whole ms in 1000..one week; etcd rounds up to whole seconds (and raises TTLs below its minimum, ~2 s).
import type { CniError } from '../errors/cni-error.js'
import { EtcdLeaseStore } from './etcd-store.js'
import { FileLeaseStore } from './file-store.js'

export interface Lease {
  network: string
  /** the host's subnet of the cluster CIDR, "10.244.3.0/24" */
  subnet: string
  hostId: string
  /** the host's underlay address (the VXLAN FDB destination) */
  publicIp: string
  /** the MAC of the host's VXLAN device */
  vtepMac: string
  /** ms since the epoch */
  expiresAt: number
  /** the host may be reached by a plain route (same underlay subnet) */
  directRoutingOk?: boolean
}

export interface NetworkRecord {
  network: string
  /** IPv4 cluster CIDR, "10.244.0.0/16" */
  clusterCidr: string
  /** per-host subnet prefix length, > the cluster prefix and <= 30 */
  subnetLen: number
  vni: number
}

export interface AcquireRequest {
  network: string
  hostId: string
  publicIp: string
  vtepMac: string
  ttlMs: number
  directRoutingOk?: boolean
  /** a subnet to try first (e.g. remembered by the caller); ignored when taken or not of this network */
  preferSubnet?: string
}

export interface WatchOptions {
  /** the store could not be reached (the last reported list stays in force) */
  onError?: (e: CniError) => void
}

export interface Watch {
  close(): void
}

export interface LeaseStore {
  registerNetwork(rec: NetworkRecord): Promise<void>
  /** the registered record, or undefined */
  getNetwork(network: string): Promise<NetworkRecord | undefined>
  acquire(req: AcquireRequest): Promise<Lease>
  renew(lease: Lease, ttlMs: number): Promise<Lease>
  /** drops the host's lease (no-op when it has none) */
  release(network: string, hostId: string): Promise<void>
  list(network: string): Promise<Lease[]>
  watch(network: string, onChange: (leases: Lease[]) => void, opts?: WatchOptions): Watch
  close(): Promise<void>
}

export type StoreConfig =
  | { type: 'file'; path?: string }
  | { type: 'etcd'; endpoints: string[]; prefix?: string; dialTimeoutMs?: number }

export const DEFAULT_FILE_STORE_PATH = '/var/lib/berth/overlay'
export const DEFAULT_ETCD_PREFIX = '/berth/overlay'
export const DEFAULT_DIAL_TIMEOUT_MS = 3000

/** The store a network's config names; cheap and synchronous (nothing is opened or imported until first use). */
export function openStore(cfg: StoreConfig): LeaseStore {
  if (cfg.type === 'file') return new FileLeaseStore({ path: cfg.path ?? DEFAULT_FILE_STORE_PATH })
  return new EtcdLeaseStore({ endpoints: cfg.endpoints, prefix: cfg.prefix ?? DEFAULT_ETCD_PREFIX, dialTimeoutMs: cfg.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS })
}
