// Policy: which forwarding entries a container's mappings become (per family, coalesced into port ranges),
// who owns them, and whether they collide with entries already in place. Pure; nft.ts turns entries into
// map elements and back.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { ownerOf, ownerText } from '../../pkg/owner/owner.js'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import { familyOf, type ContainerAddr, type PortMapping, type Protocol } from './config.js'

/** One forwarding entry: host (address, protocol, port range) → container address and first port. */
export interface Entry {
  family: IpFamily
  /** undefined: every local address of the family */
  hostIP: string | undefined
  protocol: Protocol
  hostPort: number
  /** last host port of the range (== hostPort for one port) */
  hostPortEnd: number
  containerIP: string
  containerPort: number
}

/** The owner of a container's elements: tag (what DEL matches), network tag (what GC matches), comment. */
export interface Owner {
  tag: string
  netTag: string
  comment: string
}

/** portmap's owner comments carry an unsalted network tag (pkg/owner documents the format). */
export function portmapOwner(network: string, containerId: string, ifName: string): Owner {
  const o = ownerOf(network, containerId, ifName, { netTagSalt: '' })
  return { tag: o.tag, netTag: o.netTag ?? '', comment: o.comment }
}

export { ownerText }

/**
 * The entries for `mappings` and the container's addresses. A mapping with a hostIP goes to that family
 * only (CniError 7 when the container has no address of it); one without goes to every family the
 * container has. Consecutive mappings (host and container ports both +1, same address and protocol) are
 * coalesced into one range entry. Two mappings of the same host address, protocol and port to different
 * targets are CniError 7.
 */
export function planEntries(mappings: readonly PortMapping[], addrs: Partial<Record<IpFamily, ContainerAddr>>): Entry[] {
  const single: Entry[] = []
  for (const m of mappings) {
    const families: IpFamily[] = m.hostIP === undefined ? ([4, 6] as const).filter((f) => addrs[f] !== undefined) : [familyOf(m.hostIP)]
    for (const f of families) {
      const c = addrs[f]
      if (c === undefined) {
        throw new CniError(CniCode.InvalidConfig, `invalid port mapping ${describeMapping(m)}: hostIP is IPv${f} but the container has no IPv${f} address in prevResult`)
      }
      const any = m.hostIP === undefined || m.hostIP === '0.0.0.0' || m.hostIP === '::'
      single.push({ family: f, hostIP: any ? undefined : m.hostIP, protocol: m.protocol, hostPort: m.hostPort, hostPortEnd: m.hostPort, containerIP: c.ip, containerPort: m.containerPort })
    }
  }
  for (let i = 0; i < single.length; i++) {
    for (let j = i + 1; j < single.length; j++) {
      const a = single[i]!
      const b = single[j]!
      if (overlaps(a, b)) {
        throw new CniError(CniCode.InvalidConfig, `invalid port mappings: ${describeEntry(a)} and ${describeEntry(b)} claim the same host port`)
      }
    }
  }
  return coalesce(single)
}

/** Joins runs of consecutive ports with the same offset into one range entry. */
export function coalesce(entries: readonly Entry[]): Entry[] {
  const key = (e: Entry) => `${e.family}|${e.hostIP ?? '*'}|${e.protocol}|${e.containerIP}|${e.containerPort - e.hostPort}`
  const groups = new Map<string, Entry[]>()
  for (const e of entries) {
    const k = key(e)
    groups.set(k, [...(groups.get(k) ?? []), e])
  }
  const out: Entry[] = []
  for (const g of groups.values()) {
    g.sort((a, b) => a.hostPort - b.hostPort)
    let cur: Entry | undefined
    for (const e of g) {
      if (cur !== undefined && e.hostPort === cur.hostPortEnd + 1) {
        cur.hostPortEnd = e.hostPortEnd
        continue
      }
      if (cur !== undefined) out.push(cur)
      cur = { ...e }
    }
    if (cur !== undefined) out.push(cur)
  }
  return out
}

/**
 * Whether an entry can be one `ranges` element: the kernel's DNAT keeps the destination port when the map
 * gives only an address, so ranges whose host and container ports are equal are one element.
 */
export const isSamePortRange = (e: Entry): boolean => e.hostPortEnd > e.hostPort && e.containerPort === e.hostPort

/** A range whose container ports differ from its host ports (Docker's 8000-8010:80-90). */
export const isShiftedRange = (e: Entry): boolean => e.hostPortEnd > e.hostPort && e.containerPort !== e.hostPort

/**
 * The port window [min, max] of the one `shift` element of a shifted range (nft.ts). With the offset flag
 * (NF_NAT_RANGE_PROTO_OFFSET) and no base port, the kernel's DNAT picks port min + (dport % size), size =
 * max - min + 1 (nf_nat_l4proto_unique_tuple, base 0 since nft_nat cannot load one): with r = host start
 * % size, host port H + i reaches min + r + i, which is container port T + i when min = T - r and
 * r + n <= size (no wrap inside the range). The smallest such size that keeps the window inside 1-65535;
 * undefined when none exists (then the range is one element per port).
 */
export function offsetWindow(e: Pick<Entry, 'hostPort' | 'hostPortEnd' | 'containerPort'>): { min: number; max: number } | undefined {
  const n = e.hostPortEnd - e.hostPort + 1
  for (let size = n; size <= 65535; size++) {
    const r = e.hostPort % size
    const min = e.containerPort - r
    if (r + n <= size && min >= 1 && min + size - 1 <= 65535) return { min, max: min + size - 1 }
  }
  return undefined
}

/**
 * The entries as map elements will hold them: single ports and same-port ranges as they are; a shifted
 * IPv4 range stays one entry when the table has the offset DNAT rule (`offsetNat`) and a window exists;
 * other shifted ranges (IPv6: nft.ts says why) are split into single ports.
 */
export function elementEntries(entries: readonly Entry[], offsetNat: boolean): Entry[] {
  const out: Entry[] = []
  for (const e of entries) {
    if (!isShiftedRange(e) || (offsetNat && e.family === 4 && offsetWindow(e) !== undefined)) {
      out.push(e)
      continue
    }
    out.push(...singlePorts(e))
  }
  return out
}

/** A range as one entry per port. */
export function singlePorts(e: Entry): Entry[] {
  const out: Entry[] = []
  for (let p = e.hostPort; p <= e.hostPortEnd; p++) out.push({ ...e, hostPort: p, hostPortEnd: p, containerPort: e.containerPort + (p - e.hostPort) })
  return out
}

/** Same family and protocol, host addresses that meet (either is "any", or equal) and port ranges that meet. */
export function overlaps(
  a: Pick<Entry, 'family' | 'hostIP' | 'protocol' | 'hostPort' | 'hostPortEnd'>,
  b: Pick<Entry, 'family' | 'hostIP' | 'protocol' | 'hostPort' | 'hostPortEnd'>,
): boolean {
  if (a.family !== b.family || a.protocol !== b.protocol) return false
  if (a.hostIP !== undefined && b.hostIP !== undefined && a.hostIP !== b.hostIP) return false
  return a.hostPort <= b.hostPortEnd && b.hostPort <= a.hostPortEnd
}

const hostText = (family: IpFamily, ip: string | undefined) => (ip === undefined ? (family === 4 ? '*' : '[*]') : family === 6 ? `[${ip}]` : ip)
const portText = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`)

export function describeEntry(e: Pick<Entry, 'family' | 'hostIP' | 'protocol' | 'hostPort' | 'hostPortEnd'>): string {
  return `${hostText(e.family, e.hostIP)}:${portText(e.hostPort, e.hostPortEnd)}/${e.protocol}`
}

function describeMapping(m: PortMapping): string {
  return `${m.hostIP ?? ''}:${m.hostPort}:${m.containerPort}/${m.protocol}`
}
