// Ranges and range sets, and the order in which addresses are tried. A range set yields one address per
// ADD (so a v4 set plus a v6 set gives a dual-stack attachment); its ranges are tried one after another.
// The order is the reference's round robin: start just after the last reserved address, walk to the end
// of that range, continue with the next range (wrapping to the first), stop when back at the start. So a
// crash-looping container does not get the same address again until the whole set has been used.
import { addToIp, compareIp, formatIp, ipEquals, ipToBigInt, netContains, type IpAddr, type IpFamily, type IpNet } from '../ip/cidr.js'

export interface Range {
  family: IpFamily
  /** the network address with its prefix */
  subnet: IpNet
  /** first allocatable address, inclusive */
  rangeStart: IpAddr
  /** last allocatable address, inclusive */
  rangeEnd: IpAddr
  /** never handed out; reported as the gateway of addresses from this range */
  gateway: IpAddr
}

export type RangeSet = readonly Range[]

/** True when `ip` lies in [rangeStart, rangeEnd] of `r` (which always lies inside the subnet). */
export function rangeContains(r: Range, ip: IpAddr): boolean {
  return netContains(r.subnet, ip) && compareIp(ip, r.rangeStart) >= 0 && compareIp(ip, r.rangeEnd) <= 0
}

export function rangeFor(set: RangeSet, ip: IpAddr): Range | undefined {
  return set.find((r) => rangeContains(r, ip))
}

export const rangeSetContains = (set: RangeSet, ip: IpAddr): boolean => rangeFor(set, ip) !== undefined

/** Ranges of one family overlap when their [start, end] intervals share an address (the reference's test). */
export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.family !== b.family) return false
  return compareIp(a.rangeStart, b.rangeEnd) <= 0 && compareIp(b.rangeStart, a.rangeEnd) <= 0
}

/** "10.1.0.2-10.1.0.254", as the reference prints a range. */
export const formatRange = (r: Range): string => `${formatIp(r.rangeStart.bytes)}-${formatIp(r.rangeEnd.bytes)}`
export const formatRangeSet = (set: RangeSet): string => set.map(formatRange).join(',')

/** How many addresses the set can hand out: every address of every range, less gateways inside them. */
export function rangeSetSize(set: RangeSet): bigint {
  let n = 0n
  for (const r of set) {
    n += ipToBigInt(r.rangeEnd) - ipToBigInt(r.rangeStart) + 1n
    if (rangeContains(r, r.gateway)) n -= 1n
  }
  return n
}

export interface Candidate {
  ip: IpAddr
  range: Range
}

/**
 * Every allocatable address of the set exactly once (gateways skipped), starting after `last` when `last`
 * is in the set, else at the first range's start. Lazy: callers stop at the first free address.
 */
export function* candidates(set: RangeSet, last?: IpAddr): Generator<Candidate> {
  if (set.length === 0) return
  const step = (idx: number, ip: IpAddr): [number, IpAddr] => {
    const r = set[idx] as Range
    if (ipEquals(ip, r.rangeEnd)) {
      const next = (idx + 1) % set.length
      return [next, (set[next] as Range).rangeStart]
    }
    // rangeStart <= ip < rangeEnd, so ip + 1 exists.
    return [idx, addToIp(ip, 1n) as IpAddr]
  }
  const lastIdx = last === undefined ? -1 : set.findIndex((r) => rangeContains(r, last))
  const start: [number, IpAddr] = lastIdx >= 0 && last !== undefined ? step(lastIdx, last) : [0, (set[0] as Range).rangeStart]
  let [idx, ip] = start
  do {
    const range = set[idx] as Range
    if (!ipEquals(ip, range.gateway)) yield { ip, range }
    ;[idx, ip] = step(idx, ip)
  } while (!(idx === start[0] && ipEquals(ip, start[1])))
}
