// Leases and network records as stored: name checks, decoding of stored text, and the comparison the
// watches use to tell a real change from a renewal. Shared by the file and the etcd store.
import { CniCode, CniError } from '../errors/cni-error.js'
import { ipFamily } from '../ip/cidr.js'
import type { AcquireRequest, Lease, NetworkRecord } from './store.js'

// Network names as libcni accepts them; host IDs as hostnames, machine IDs or underlay addresses (IPv6 ones
// included, hence ":") look. Neither can hold "/" or start with ".", so both are safe as file names and etcd
// key segments.
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$/
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i

/** renew() found the lease gone: call acquire() again (the host may get another subnet). */
export class LeaseLostError extends CniError {
  constructor(network: string, hostId: string, subnet: string) {
    super(
      CniCode.TryAgainLater,
      `the lease of host ${hostId} on ${subnet} of network ${network} was lost (expired and taken by another host, or released); acquire a new one`,
    )
  }
}

export function checkNetworkName(network: string): void {
  if (!NAME_RE.test(network)) {
    throw new CniError(CniCode.InvalidConfig, `invalid overlay network name ${JSON.stringify(network)}: use letters, digits, "_", "." and "-", starting with a letter or digit`)
  }
}

export function checkHostId(hostId: string): void {
  if (!HOST_RE.test(hostId)) {
    throw new CniError(CniCode.InvalidConfig, `invalid overlay host ID ${JSON.stringify(hostId)}: use letters, digits, "_", ".", ":" and "-", starting with a letter or digit (at most 253)`)
  }
}

/** Validates what a host asks for before anything is written. */
export function checkAcquireRequest(req: AcquireRequest): void {
  checkNetworkName(req.network)
  checkHostId(req.hostId)
  if (ipFamily(req.publicIp) === undefined || req.publicIp.includes('/')) {
    throw new CniError(CniCode.InvalidConfig, `invalid underlay (public) IP ${JSON.stringify(req.publicIp)} for host ${req.hostId}`)
  }
  if (!MAC_RE.test(req.vtepMac)) {
    throw new CniError(CniCode.InvalidConfig, `invalid VTEP MAC ${JSON.stringify(req.vtepMac)} for host ${req.hostId}: expected aa:bb:cc:dd:ee:ff`)
  }
  checkTtl(req.ttlMs)
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > 7 * 24 * 3600_000) {
    throw new CniError(CniCode.InvalidConfig, `invalid lease TTL ${ttlMs} ms: use a whole number of milliseconds between 1000 and one week`)
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A stored lease, or undefined when the text is not one (a torn or foreign entry is ignored, never trusted). */
export function decodeLease(text: string): Lease | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObj(v)) return undefined
  const { network, subnet, hostId, publicIp, vtepMac, expiresAt, directRoutingOk } = v
  if (typeof network !== 'string' || typeof subnet !== 'string' || typeof hostId !== 'string') return undefined
  if (typeof publicIp !== 'string' || typeof vtepMac !== 'string' || typeof expiresAt !== 'number') return undefined
  if (directRoutingOk !== undefined && typeof directRoutingOk !== 'boolean') return undefined
  if (!NAME_RE.test(network) || !HOST_RE.test(hostId) || ipFamily(subnet) !== 4) return undefined
  const lease: Lease = { network, subnet, hostId, publicIp, vtepMac, expiresAt }
  if (directRoutingOk !== undefined) lease.directRoutingOk = directRoutingOk
  return lease
}

export function encodeLease(lease: Lease): string {
  return JSON.stringify(lease) + '\n'
}

export function decodeNetworkRecord(v: unknown): NetworkRecord | undefined {
  if (!isObj(v)) return undefined
  const { network, clusterCidr, subnetLen, vni } = v
  if (typeof network !== 'string' || typeof clusterCidr !== 'string' || typeof subnetLen !== 'number' || typeof vni !== 'number') return undefined
  return { network, clusterCidr, subnetLen, vni }
}

/** The lease as it was asked for, with a new expiry (MAC in lower case, as the kernel prints it). */
export function leaseFor(req: AcquireRequest, subnet: string, now: number): Lease {
  const lease: Lease = { network: req.network, subnet, hostId: req.hostId, publicIp: req.publicIp, vtepMac: req.vtepMac.toLowerCase(), expiresAt: now + req.ttlMs }
  if (req.directRoutingOk !== undefined) lease.directRoutingOk = req.directRoutingOk
  return lease
}

/** True when `b` says something different from `a` to a peer (everything but the expiry). */
export function leaseDiffers(a: Lease, b: Lease): boolean {
  return a.subnet !== b.subnet || a.hostId !== b.hostId || a.publicIp !== b.publicIp || a.vtepMac !== b.vtepMac || a.directRoutingOk !== b.directRoutingOk
}

/** A key of a lease list that ignores expiries, for watches to skip renewals. Lists are sorted by subnet. */
export function leaseSetKey(leases: readonly Lease[]): string {
  return JSON.stringify(leases.map((l) => [l.subnet, l.hostId, l.publicIp, l.vtepMac, l.directRoutingOk ?? null]))
}

/** Live leases sorted by subnet address (numerically), which is the order list() promises. */
export function liveSorted(leases: Iterable<Lease>, now: number): Lease[] {
  return [...leases].filter((l) => l.expiresAt > now).sort((a, b) => subnetOrder(a.subnet) - subnetOrder(b.subnet))
}

function subnetOrder(cidr: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = (cidr.split('/')[0] ?? '').split('.').map(Number)
  return ((a * 256 + b) * 256 + c) * 256 + d
}
