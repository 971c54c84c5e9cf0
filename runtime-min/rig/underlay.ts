// The rig's underlay: one IPv4 prefix; the switch holds its first address, hostK the (K+1)-th.
// The default prefix is the first /24 of 10.200.0.0/16 that overlaps neither a route of the machine's
// namespace nor another rig's underlay, so rig traffic can never be mistaken for the machine's own.
import { formatCidr, formatIp, ipFromBigInt, ipToBigInt, netContains, networkOf, parseCidr, type IpNet } from '../../pkg/ip/cidr.js'
import { listAddresses } from '../../pkg/link/addr.js'
import { listRoutes } from '../../pkg/link/route.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { CliError } from '../cli-error.js'

export const DEFAULT_POOL = '10.200.0.0/16'
const DEFAULT_PREFIX = 24

export interface UnderlayPlan {
  /** "10.200.0.0/24" */
  readonly cidr: string
  readonly prefixLen: number
  /** the switch's address (the hosts' gateway), "10.200.0.1" */
  readonly gateway: string
  /** hostK's address is hosts[K-1] */
  readonly hosts: readonly string[]
}

/**
 * Parses a user's --underlay (IPv4) or --underlay6 (IPv6): a network address with room for the switch
 * and `hosts` hosts.
 */
export function parseUnderlay(text: string, hosts: number, family: 4 | 6 = 4): IpNet {
  const opt = family === 4 ? '--underlay' : '--underlay6'
  const example = family === 4 ? 'an IPv4 prefix such as 10.200.0.0/24' : 'an IPv6 prefix such as fd00:200::/64'
  let net: IpNet
  try {
    net = parseCidr(text)
  } catch {
    throw new CliError(`invalid ${opt} ${JSON.stringify(text)}`, `give ${example}`)
  }
  if (!text.includes('/')) throw new CliError(`${opt} ${text} has no prefix length`, `give ${example}`)
  if (net.family !== family) throw new CliError(`${opt} ${text} is IPv${net.family}`, `give ${example}`)
  const network = networkOf(net)
  if (ipToBigInt(network) !== ipToBigInt(net)) {
    throw new CliError(`${opt} ${text} has host bits set`, `did you mean ${formatCidr(network)}?`)
  }
  if (maxHostIndex(net) < hosts) {
    throw new CliError(`${opt} ${text} is too small for a switch and ${hosts} hosts`, `give a shorter prefix (a /${family === 4 ? 24 : 120} holds 253)`)
  }
  return net
}

/** The address of host K in `net` (K = 0 is the switch): the network address + 1 + K. */
export function hostAddress(net: IpNet, k: number): string {
  return formatIp(ipFromBigInt(net.family, ipToBigInt(networkOf(net)) + 1n + BigInt(k)).bytes)
}

/** The highest host number `net` has room for (the network and last addresses and the switch set aside). */
export function maxHostIndex(net: IpNet): number {
  const n = (1n << BigInt((net.family === 4 ? 32 : 128) - net.prefixLen)) - 3n
  return n > 1_000_000n ? 1_000_000 : Number(n)
}

/** The addresses of the switch and hosts 1..N in `net`. */
export function planUnderlay(net: IpNet, hosts: number): UnderlayPlan {
  return {
    cidr: formatCidr(networkOf(net)),
    prefixLen: net.prefixLen,
    gateway: hostAddress(net, 0),
    hosts: Array.from({ length: hosts }, (_, k) => hostAddress(net, k + 1)),
  }
}

/** Whether two prefixes share any address. */
export function overlaps(a: IpNet, b: IpNet): boolean {
  return a.family === b.family && (netContains(a, b) || netContains(b, a))
}

/** The first default-pool /24 clear of `taken`; a clear error when the pool is used up. */
export function pickUnderlay(taken: readonly IpNet[]): IpNet {
  const pool = parseCidr(DEFAULT_POOL)
  const base = ipToBigInt(networkOf(pool))
  const count = 1 << (DEFAULT_PREFIX - pool.prefixLen)
  const step = 1n << BigInt(32 - DEFAULT_PREFIX)
  for (let i = 0; i < count; i++) {
    const cand: IpNet = { ...ipFromBigInt(4, base + BigInt(i) * step), prefixLen: DEFAULT_PREFIX }
    if (!taken.some((t) => overlaps(t, cand))) return cand
  }
  throw new CliError(`every /24 of ${DEFAULT_POOL} is in use by a route or another rig`, 'pass --underlay CIDR')
}

/** IPv4 route destinations of the calling namespace's main table (default routes left out) and its addresses' prefixes. */
export async function machineRoutes(): Promise<IpNet[]> {
  const rt = openRtnl()
  try {
    const routes = await listRoutes(rt, { family: 4 })
    const addrs = await listAddresses(rt, { family: 4 })
    return [...routes.filter((r) => !r.dst.endsWith('/0')).map((r) => r.dst), ...addrs.map((a) => a.cidr)].map((c) => parseCidr(c))
  } finally {
    rt.close()
  }
}
