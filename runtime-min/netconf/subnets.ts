// Choosing and checking network subnets: a subnet must not overlap the host's routes (that would
// shadow or be shadowed by a real network) nor any other network in the CNI config dir.
import { readFileSync } from 'node:fs'
import { formatCidr, formatIp, ipFromBigInt, ipToBigInt, networkOf, parseCidr, type IpNet } from '../../pkg/ip/cidr.js'

/** A net as [first, last] address numbers. */
function span(n: IpNet): [bigint, bigint] {
  const bits = n.family === 4 ? 32 : 128
  const base = ipToBigInt(networkOf(n))
  return [base, base + (1n << BigInt(bits - n.prefixLen)) - 1n]
}

export function overlaps(a: IpNet, b: IpNet): boolean {
  if (a.family !== b.family) return false
  const [a0, a1] = span(a)
  const [b0, b1] = span(b)
  return a0 <= b1 && b0 <= a1
}

/** Routes of the calling process's network namespace (main table), default routes left out. */
export function hostRoutes(): IpNet[] {
  const out: IpNet[] = []
  try {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: little-endian hex
    for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 8) continue
      const dst = leHex(f[1] ?? '')
      const mask = leHex(f[7] ?? '')
      if (dst === undefined || mask === undefined || mask === 0) continue
      const prefixLen = 32 - countTrailingZeros(mask)
      out.push({ family: 4, bytes: u32Bytes(dst), prefixLen })
    }
  } catch {
    // no /proc/net/route: nothing to avoid
  }
  try {
    // dst(32 hex) dst_len src src_len next_hop metric refcnt use flags dev
    for (const line of readFileSync('/proc/net/ipv6_route', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      const len = parseInt(f[1] ?? '', 16)
      const hex = f[0] ?? ''
      if (!(len > 0) || hex.length !== 32 || hex.startsWith('ff') || hex.startsWith('fe80')) continue
      out.push({ family: 6, bytes: Uint8Array.from(Buffer.from(hex, 'hex')), prefixLen: len })
    }
  } catch {
    // no IPv6
  }
  return out
}

function leHex(s: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(s)) return undefined
  return Buffer.from(s, 'hex').readUInt32LE(0)
}
function u32Bytes(n: number): Uint8Array {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0, 0)
  return Uint8Array.from(b)
}
// /proc/net/route's Mask is a contiguous netmask: its prefix length is 32 minus its trailing zero bits.
function countTrailingZeros(n: number): number {
  let c = 0
  for (let v = n >>> 0; c < 32 && (v & 1) === 0; v >>>= 1) c++
  return c
}

/** The pool `berth net create` picks from when no --subnet is given: 10.89.0.0/24 ... 10.99.255.0/24. */
export function* userSubnetPool(): Generator<IpNet> {
  for (let b = 89; b <= 99; b++) for (let c = 0; c <= 255; c++) yield parseCidr(`10.${b}.${c}.0/24`)
}

/** The embedded default network's subnet first choice, then the user pool. */
export const DEFAULT_NETWORK_SUBNET = '10.87.0.0/16'

/** The first candidate that overlaps nothing in `taken`. */
export function pickSubnet(candidates: Iterable<IpNet>, taken: readonly IpNet[]): IpNet | undefined {
  for (const c of candidates) if (!taken.some((t) => overlaps(c, t))) return c
  return undefined
}

/** "10.1.2.3/24" → "10.1.2.0/24" (the network address, as host-local wants its subnet). */
export function canonicalSubnet(n: IpNet): string {
  return formatCidr(networkOf(n))
}

/** The first host address of a subnet (the conventional gateway). */
export function firstHost(n: IpNet): string {
  return formatIp(ipFromBigInt(n.family, span(n)[0] + 1n).bytes)
}
