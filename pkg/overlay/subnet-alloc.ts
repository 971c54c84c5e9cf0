// Subnet math for a network's cluster CIDR: subnets are numbered 0..count-1 from the cluster's first address.
//
// Choice of a free subnet: random among the (up to) 100 lowest free ones, as flannel does. Low subnets keep the
// space compact and addresses predictable; the randomness spreads hosts that allocate at the same moment over
// different subnets, so an etcd compare-and-swap rarely loses and retries (with "lowest free" every racer would
// fight for the same key). Subnets some other host held before (an expired lease still remembered) are handed
// out only when nothing else is free, so a host coming back after a restart finds its old subnet still there
// and its containers keep their addresses.
import { CniCode, CniError } from '../errors/cni-error.js'
import { formatCidr, ipFromBigInt, ipToBigInt, networkOf, netContains, parseCidr, type IpNet } from '../ip/cidr.js'
import type { NetworkRecord } from './store.js'

export const MAX_SUBNET_LEN = 30
export const VNI_MAX = 0xffffff
/** how many of the lowest free subnets the random choice is made from */
export const PICK_WINDOW = 100

export interface SubnetSpace {
  readonly cluster: IpNet
  readonly clusterCidr: string
  readonly subnetLen: number
  /** number of subnets of subnetLen in the cluster CIDR */
  readonly count: number
}

/** Validates a network record (code 7 naming what to fix) and returns its subnet space. */
export function subnetSpace(rec: NetworkRecord): SubnetSpace {
  let cluster: IpNet
  try {
    cluster = parseCidr(rec.clusterCidr)
  } catch {
    throw new CniError(CniCode.InvalidConfig, `network ${rec.network}: cluster CIDR ${JSON.stringify(rec.clusterCidr)} is not a CIDR such as "10.244.0.0/16"`)
  }
  if (cluster.family !== 4 || !rec.clusterCidr.includes('/')) {
    throw new CniError(CniCode.InvalidConfig, `network ${rec.network}: cluster CIDR ${rec.clusterCidr} must be an IPv4 prefix such as "10.244.0.0/16"`)
  }
  const base = networkOf(cluster)
  if (formatCidr(base) !== rec.clusterCidr) {
    throw new CniError(CniCode.InvalidConfig, `network ${rec.network}: cluster CIDR ${rec.clusterCidr} has host bits set; use ${formatCidr(base)}`)
  }
  const len = rec.subnetLen
  if (!Number.isInteger(len) || len <= cluster.prefixLen || len > MAX_SUBNET_LEN) {
    throw new CniError(
      CniCode.InvalidConfig,
      `network ${rec.network}: subnet length /${len} does not fit cluster CIDR ${rec.clusterCidr}; use a whole number longer than /${cluster.prefixLen} and at most /${MAX_SUBNET_LEN}`,
    )
  }
  if (!Number.isInteger(rec.vni) || rec.vni < 1 || rec.vni > VNI_MAX) {
    throw new CniError(CniCode.InvalidConfig, `network ${rec.network}: VNI ${rec.vni} is out of range; use 1..${VNI_MAX}`)
  }
  return { cluster: base, clusterCidr: rec.clusterCidr, subnetLen: len, count: 2 ** (len - cluster.prefixLen) }
}

/** "a.b.c.d/len" of subnet number `index`. */
export function subnetAt(space: SubnetSpace, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= space.count) throw new RangeError(`subnet index ${index} outside 0..${space.count - 1}`)
  const start = ipToBigInt(space.cluster) + (BigInt(index) << BigInt(32 - space.subnetLen))
  return formatCidr({ ...ipFromBigInt(4, start), prefixLen: space.subnetLen })
}

/** The number of `cidr` in the space, or undefined when it is not exactly one of its subnets. */
export function subnetIndex(space: SubnetSpace, cidr: string): number | undefined {
  let net: IpNet
  try {
    net = parseCidr(cidr)
  } catch {
    return undefined
  }
  if (net.family !== 4 || net.prefixLen !== space.subnetLen || !netContains(space.cluster, net)) return undefined
  if (formatCidr(networkOf(net)) !== cidr) return undefined
  return Number((ipToBigInt(net) - ipToBigInt(space.cluster)) >> BigInt(32 - space.subnetLen))
}

/**
 * A subnet number not in `taken`: random among the lowest PICK_WINDOW free ones that are not in `avoid`,
 * else the lowest free one in `avoid`; undefined when every subnet is taken.
 */
export function pickSubnet(space: SubnetSpace, taken: ReadonlySet<number>, avoid: ReadonlySet<number> = new Set(), random: () => number = Math.random): number | undefined {
  const window: number[] = []
  let fallback: number | undefined
  // Stops after PICK_WINDOW candidates: O(taken + avoid + window) even for a /8 of /30s.
  for (let i = 0; i < space.count && window.length < PICK_WINDOW; i++) {
    if (taken.has(i)) continue
    if (avoid.has(i)) fallback ??= i
    else window.push(i)
  }
  if (window.length === 0) return fallback
  return window[Math.min(window.length - 1, Math.floor(random() * window.length))]
}

/** CniError 100 for a cluster CIDR with no free subnet. */
export function exhaustedError(space: SubnetSpace, network: string): CniError {
  return new CniError(
    CniCode.AddressesExhausted,
    `every /${space.subnetLen} of ${space.clusterCidr} is leased (${space.count} hosts on network ${network}); wait for a departed host's lease to expire, release one, or use a larger cluster CIDR or a longer subnet length`,
  )
}

/** True when two IPv4/IPv6 prefixes share any address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a)
  const y = parseCidr(b)
  return netContains(x, y) || netContains(y, x)
}

/**
 * Checks `rec` against the records already registered: code 7 for the same name with another CIDR,
 * subnet length or VNI, for another network whose cluster CIDR overlaps, or for a VNI another network uses.
 * Returns true when `rec` is already registered as it is (nothing to write).
 */
export function checkAgainstRegistered(rec: NetworkRecord, registered: readonly NetworkRecord[]): boolean {
  subnetSpace(rec)
  let same = false
  for (const other of registered) {
    if (other.network === rec.network) {
      if (other.clusterCidr !== rec.clusterCidr || other.subnetLen !== rec.subnetLen || other.vni !== rec.vni) {
        throw new CniError(
          CniCode.InvalidConfig,
          `network ${rec.network} is registered with cluster CIDR ${other.clusterCidr}, subnet length /${other.subnetLen} and VNI ${other.vni}, not ${rec.clusterCidr}, /${rec.subnetLen} and ${rec.vni}; every host must use the registered values (or use another network name)`,
        )
      }
      same = true
      continue
    }
    if (cidrsOverlap(other.clusterCidr, rec.clusterCidr)) {
      throw new CniError(CniCode.InvalidConfig, `cluster CIDR ${rec.clusterCidr} of network ${rec.network} overlaps ${other.clusterCidr} of network ${other.network}; choose a CIDR that does not overlap`)
    }
    if (other.vni === rec.vni) {
      throw new CniError(CniCode.InvalidConfig, `VNI ${rec.vni} of network ${rec.network} is already used by network ${other.network}; choose another VNI`)
    }
  }
  return same
}
