// IP addresses and prefixes as the kernel wants them (family + network-order bytes), and back.
// The only importer of 'ip-address'; everything else in berth goes through these helpers.
import ipAddress from 'ip-address'

const { Address4, Address6 } = ipAddress

export type IpFamily = 4 | 6

/** One IP address: its family and its bytes in network order (4 or 16 of them). */
export interface IpAddr {
  readonly family: IpFamily
  readonly bytes: Uint8Array
}

/** An address with a prefix length, as in "10.1.2.3/24" (the address need not be the network address). */
export interface IpNet extends IpAddr {
  readonly prefixLen: number
}

/** Thrown for text that is not an IP address or prefix; names the input. */
export class IpParseError extends Error {
  override readonly name = 'IpParseError'
  readonly input: string
  constructor(input: string, what: string) {
    super(`invalid ${what} "${input}"`)
    this.input = input
  }
}

/** Parses "10.1.2.3" or "fd00::1" (no prefix, no zone). */
export function parseIp(text: string): IpAddr {
  if (text.includes('/') || text.includes('%')) throw new IpParseError(text, 'IP address')
  if (Address4.isValid(text)) return { family: 4, bytes: Uint8Array.from(new Address4(text).toArray()) }
  if (text.includes(':') && Address6.isValid(text)) return { family: 6, bytes: v6Bytes(new Address6(text)) }
  throw new IpParseError(text, 'IP address')
}

/** Parses "10.1.2.3/24" or "fd00::1/64". A bare address gets the full-length prefix (/32, /128). */
export function parseCidr(text: string): IpNet {
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  let ip: IpAddr
  try {
    ip = parseIp(addr)
  } catch {
    throw new IpParseError(text, 'CIDR')
  }
  const max = ip.family === 4 ? 32 : 128
  if (slash < 0) return { ...ip, prefixLen: max }
  const p = text.slice(slash + 1)
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) throw new IpParseError(text, 'CIDR')
  return { ...ip, prefixLen: Number(p) }
}

/** Family of an address or prefix in text form, or undefined if it is neither. */
export function ipFamily(text: string): IpFamily | undefined {
  try {
    return parseCidr(text).family
  } catch {
    return undefined
  }
}

/** Text form of address bytes (4 → dotted quad, 16 → RFC 5952 compressed form). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  if (bytes.length === 16) return Address6.fromUnsignedByteArray(Array.from(bytes)).correctForm()
  throw new IpParseError(Buffer.from(bytes).toString('hex'), 'IP address bytes')
}

/** "addr/prefix" text of an IpNet. */
export function formatCidr(net: IpNet): string {
  return `${formatIp(net.bytes)}/${net.prefixLen}`
}

/** The network address of a prefix (host bits cleared): 10.1.2.3/24 → 10.1.2.0/24. */
export function networkOf(net: IpNet): IpNet {
  const bytes = Uint8Array.from(net.bytes)
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, net.prefixLen - i * 8))
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff)
  }
  return { family: net.family, bytes, prefixLen: net.prefixLen }
}

/** The IPv4 broadcast address of a prefix (all host bits set); undefined for IPv6 and /31, /32. */
export function broadcastOf(net: IpNet): IpAddr | undefined {
  if (net.family !== 4 || net.prefixLen >= 31) return undefined
  const bytes = Uint8Array.from(net.bytes)
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(8, net.prefixLen - i * 8))
    bytes[i] = (bytes[i] ?? 0) | (0xff >> keep)
  }
  return { family: 4, bytes }
}

function v6Bytes(a: InstanceType<typeof Address6>): Uint8Array {
  const raw = a.toUnsignedByteArray()
  const out = new Uint8Array(16)
  out.set(raw, 16 - raw.length)
  return out
}

// --- Address arithmetic (IPAM): addresses as unsigned integers of their family's width. ---

/** The address as an unsigned integer (32 or 128 bits). */
export function ipToBigInt(ip: IpAddr): bigint {
  let n = 0n
  for (const b of ip.bytes) n = (n << 8n) | BigInt(b)
  return n
}

/** The address of `family` whose integer value is `n`; IpParseError when n does not fit the family. */
export function ipFromBigInt(family: IpFamily, n: bigint): IpAddr {
  const len = family === 4 ? 4 : 16
  if (n < 0n || n >> BigInt(len * 8) !== 0n) throw new IpParseError(n.toString(), `IPv${family} address value`)
  const bytes = new Uint8Array(len)
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return { family, bytes }
}

/** Orders addresses: IPv4 before IPv6, then by value. */
export function compareIp(a: IpAddr, b: IpAddr): number {
  if (a.family !== b.family) return a.family - b.family
  const x = ipToBigInt(a)
  const y = ipToBigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

export const ipEquals = (a: IpAddr, b: IpAddr): boolean => compareIp(a, b) === 0

/** True when `ip` is of the prefix's family and inside it. */
export function netContains(net: IpNet, ip: IpAddr): boolean {
  if (net.family !== ip.family) return false
  return ipEquals(networkOf({ ...ip, prefixLen: net.prefixLen }), networkOf(net))
}

/** The last address of a prefix (all host bits set), for either family; IPv4 /31 and /32 included. */
export function lastAddressOf(net: IpNet): IpAddr {
  const width = net.family === 4 ? 32n : 128n
  const hostBits = width - BigInt(net.prefixLen)
  return ipFromBigInt(net.family, ipToBigInt(networkOf(net)) | ((1n << hostBits) - 1n))
}

/** `ip` moved by `delta` (may be negative); undefined when that leaves the family's address space. */
export function addToIp(ip: IpAddr, delta: bigint): IpAddr | undefined {
  const n = ipToBigInt(ip) + delta
  const width = ip.family === 4 ? 32n : 128n
  if (n < 0n || n >> width !== 0n) return undefined
  return ipFromBigInt(ip.family, n)
}
