// IP and CIDR text as Go's net package reads and prints it (cni types.IPNet, net.IP), so results that pass
// through berth print like the reference: IPv6 in RFC 5952 form, IPv4-mapped IPv6 as dotted IPv4.
// pkg/cni may not import ip-address (only pkg/ip does), and it only needs syntax and canonical text.

export type IpFamily = 4 | 6

export interface IpText {
  /** canonical text */
  text: string
  family: IpFamily
}

const V4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
// No leading zeros: Go (since 1.17) refuses "010.0.0.1" as ambiguous.
const V4 = new RegExp(`^${V4_OCTET}(?:\\.${V4_OCTET}){3}$`)
// The URL parser is the IPv6 parser here; the alphabet guard keeps it from reading "@", "\" or a zone.
const V6_ALPHABET = /^[0-9a-fA-F:.]+$/
const V4_MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/

interface Parsed extends IpText {
  mapped: boolean
}

function parseIp(s: string): Parsed | undefined {
  if (V4.test(s)) return { text: s, family: 4, mapped: false }
  if (!s.includes(':') || !V6_ALPHABET.test(s)) return undefined
  let host: string
  try {
    host = new URL(`http://[${s}]/`).hostname
  } catch {
    return undefined
  }
  const v6 = host.slice(1, -1)
  const m = V4_MAPPED.exec(v6)
  if (m === null) return { text: v6, family: 6, mapped: false }
  // Go's net.IP.String prints ::ffff:a.b.c.d as a.b.c.d, and the CNI types call it IPv4 (To4() != nil).
  const hi = parseInt(m[1] ?? '0', 16)
  const lo = parseInt(m[2] ?? '0', 16)
  return { text: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 4, mapped: true }
}

/** An IP address without prefix, canonicalised; undefined if it is not one. */
export function canonicalIp(s: string): IpText | undefined {
  const p = parseIp(s)
  return p === undefined ? undefined : { text: p.text, family: p.family }
}

/**
 * "addr/prefix" with the host bits kept (Go's types.ParseCIDR keeps them), canonicalised; undefined if
 * malformed. An IPv4-mapped address needs a prefix of at least 96 and becomes IPv4 with prefix - 96, as Go
 * prints it (shorter prefixes make Go print nonsense, so they are refused).
 */
export function canonicalCidr(s: string): IpText | undefined {
  const slash = s.indexOf('/')
  if (slash < 0) return undefined
  const prefixText = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText)) return undefined
  const ip = parseIp(s.slice(0, slash))
  if (ip === undefined) return undefined
  let prefix = Number(prefixText)
  if (ip.mapped) {
    if (prefix < 96 || prefix > 128) return undefined
    prefix -= 96
  }
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined
  return { text: `${ip.text}/${prefix}`, family: ip.family }
}

export const isIp = (s: string): boolean => parseIp(s) !== undefined
export const isCidr = (s: string): boolean => canonicalCidr(s) !== undefined
