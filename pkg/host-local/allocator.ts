// Picking, releasing and collecting addresses, over any Store. Every function here expects the caller to
// hold the store's lock (store.locked), so one invocation's read-decide-write is never interleaved with
// another's.
import type { CniIpConfig } from '../cni/result.js'
import type { Attachment } from '../cni/schema.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { formatCidr, formatIp, ipEquals, type IpAddr } from '../ip/cidr.js'
import { candidates, formatRangeSet, rangeFor, rangeSetContains, type Range, type RangeSet } from './range-set.js'
import { fromEarlierBoot, legacyOf, ownedBy, type Owner, type Reservation, type Store } from './store.js'

export interface AllocateRequest {
  set: RangeSet
  /** the set's position in the config: names its last_reserved_ip file */
  index: number
  owner: Owner
  /** a specific address in this set (CNI_ARGS IP, args.cni.ips, runtimeConfig.ips) */
  requested?: IpAddr
  /** the network, for messages */
  network: string
}

export interface Allocation {
  ip: IpAddr
  range: Range
  /** false when the owner already held the requested address (nothing new to undo) */
  fresh: boolean
}

const describeOwner = (r: Reservation) => `container ${r.containerId}${r.ifName === undefined ? '' : ` (interface ${r.ifName})`}`

/** One address from the set for owner. CniError 100 when the set is full, 101 on a conflict. */
export function allocate(store: Store, req: AllocateRequest): Allocation {
  const { set, owner } = req
  if (req.requested !== undefined) return allocateRequested(store, req, req.requested)
  // Only the owner's own reservations, through the store's owner index: ADD must not read the others.
  for (const r of store.owned(owner)) {
    if (!(ownedBy(r, owner) || legacyOf(r, owner)) || !rangeSetContains(set, r.ip)) continue
    // Left over from before a reboot, the attachment it served is gone: free it for this ADD.
    if (fromEarlierBoot(r, store.bootId)) store.release(r.ip)
    else {
      // The spec forbids a second ADD for one attachment without a DEL; so does the reference.
      throw new CniError(CniCode.LinkConflict, `${formatIp(r.ip.bytes)} in network ${req.network} is already allocated to ${describeOwner(r)}; duplicate allocation is not allowed`)
    }
  }
  // Round robin resumes after the last reserved address, so the first candidate is usually free; a taken
  // one costs one refused exclusive create (and a read, to free it when an earlier boot left it).
  for (const c of candidates(set, store.lastReserved(req.index))) {
    if (store.reserve(c.ip, owner, req.index)) return { ip: c.ip, range: c.range, fresh: true }
    const holder = store.get(c.ip)
    if (holder !== undefined && fromEarlierBoot(holder, store.bootId)) {
      store.release(c.ip)
      if (store.reserve(c.ip, owner, req.index)) return { ip: c.ip, range: c.range, fresh: true }
    }
  }
  throw new CniError(CniCode.AddressesExhausted, `no IP addresses available in range set ${formatRangeSet(set)} of network ${req.network}`)
}

function allocateRequested(store: Store, req: AllocateRequest, ip: IpAddr): Allocation {
  const text = formatIp(ip.bytes)
  const range = rangeFor(req.set, ip)
  if (range === undefined) {
    throw new CniError(CniCode.InvalidConfig, `requested IP ${text} is not in range set ${formatRangeSet(req.set)}`)
  }
  if (ipEquals(ip, range.gateway)) throw new CniError(CniCode.InvalidConfig, `requested IP ${text} is the gateway of subnet ${formatCidr(range.subnet)}`)
  let holder = store.get(ip)
  // An earlier boot's reservation serves nobody now; keeping it (even our own) would let a later GC or
  // STATUS free an address in use.
  if (holder !== undefined && fromEarlierBoot(holder, store.bootId)) {
    store.release(ip)
    holder = undefined
  }
  if (holder !== undefined) {
    if (ownedBy(holder, req.owner)) return { ip, range, fresh: false }
    throw new CniError(CniCode.LinkConflict, `requested IP ${text} in network ${req.network} is already reserved by ${describeOwner(holder)}`)
  }
  if (!store.reserve(ip, req.owner, req.index)) {
    throw new CniError(CniCode.LinkConflict, `requested IP ${text} in network ${req.network} is already reserved`)
  }
  return { ip, range, fresh: true }
}

/** The result entry for an allocation: address with the subnet's prefix, and the range's gateway. */
export function ipConfigOf(a: Allocation): CniIpConfig {
  return { address: `${formatIp(a.ip.bytes)}/${a.range.subnet.prefixLen}`, gateway: formatIp(a.range.gateway.bytes) }
}

/**
 * Releases everything owner holds in the network; when it holds nothing under (ID, ifname), whatever a
 * legacy reservation recorded under its ID alone (the reference's fallback). Returns what was released.
 */
export function releaseOwner(store: Store, owner: Owner): IpAddr[] {
  const all = store.owned(owner)
  let mine = all.filter((r) => ownedBy(r, owner))
  if (mine.length === 0) mine = all.filter((r) => legacyOf(r, owner))
  for (const r of mine) store.release(r.ip)
  return mine.map((r) => r.ip)
}

/** The owner's reservations (exact, else legacy) inside the set. */
export function findOwned(store: Store, set: RangeSet, owner: Owner): Reservation[] {
  const inSet = store.owned(owner).filter((r) => rangeSetContains(set, r.ip))
  const exact = inSet.filter((r) => ownedBy(r, owner))
  return exact.length > 0 ? exact : inSet.filter((r) => legacyOf(r, owner))
}

/**
 * GC: releases every reservation whose attachment is not in `valid`, and every one berth recorded in an
 * earlier boot. A legacy reservation (ID only) stays while any valid attachment has its container ID.
 */
export function collect(store: Store, valid: readonly Attachment[]): IpAddr[] {
  const keys = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`))
  const ids = new Set(valid.map((a) => a.containerID))
  const gone = store.list().filter((r) => {
    if (fromEarlierBoot(r, store.bootId)) return true
    return r.ifName === undefined ? !ids.has(r.containerId) : !keys.has(`${r.containerId}\n${r.ifName}`)
  })
  for (const r of gone) store.release(r.ip)
  return gone.map((r) => r.ip)
}

/** STATUS: releases what berth recorded in an earlier boot; returns what it released. */
export function releaseEarlierBoots(store: Store): IpAddr[] {
  const gone = store.list().filter((r) => fromEarlierBoot(r, store.bootId))
  for (const r of gone) store.release(r.ip)
  return gone.map((r) => r.ip)
}
