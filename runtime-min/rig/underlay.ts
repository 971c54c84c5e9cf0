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

/** Parses a user's --underlay: an IPv4 network address with room for the switch and `hosts` hosts. */
export function parseUnderlay(text: string, hosts: number): IpNet {
  let net: IpNet
  try {
    net = parseCidr(text)
  } catch {
    throw new CliError(`invalid --underlay ${JSON.stringify(text)}`, 'give an IPv4 prefix such as 10.200.0.0/24')
  }
  if (!text.includes('/')) throw new CliError(`--underlay ${text} has no prefix length`, 'give an IPv4 prefix such as 10.200.0.0/24')
  if (net.family !== 4) throw new CliError(`--underlay ${text} is IPv6`, 'rigs use an IPv4 underlay such as 10.200.0.0/24')
  const network = networkOf(net)
  if (ipToBigInt(network) !== ipToBigInt(net)) {
    throw new CliError(`--underlay ${text} has host bits set`, `did you mean ${formatCidr(network)}?`)
  }
  const usable = (1n << BigInt(32 - net.prefixLen)) - 2n
  if (usable < BigInt(hosts + 1)) {
    throw new CliError(`--underlay ${text} is too small for a switch and ${hosts} hosts`, 'give a shorter prefix (a /24 holds 253)')
  }
  return net
}

/** The addresses of the switch and each host in `net`. */
export function planUnderlay(net: IpNet, hosts: number): UnderlayPlan {
  const base = ipToBigInt(networkOf(net))
  const at = (i: number) => formatIp(ipFromBigInt(4, base + BigInt(i)).bytes)
  return {
    cidr: formatCidr(networkOf(net)),
    prefixLen: net.prefixLen,
    gateway: at(1),
    hosts: Array.from({ length: hosts }, (_, k) => at(k + 2)),
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
