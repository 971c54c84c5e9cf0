// The underlay: the host link VXLAN packets leave by, its address (the VTEP's source, the lease's publicIp)
// and its MTU. Default: the device of the IPv4 default route, else of the IPv6 one (flannel's choice).
import { CniCode, CniError } from '../errors/cni-error.js'
import { type IpFamily } from '../ip/cidr.js'
import { listAddresses } from '../link/addr.js'
import { RT_SCOPE_UNIVERSE } from '../link/constants.js'
import { linkByIndex, linkByName, type Link } from '../link/link.js'
import { listRoutes } from '../link/route.js'
import type { Rtnl } from '../link/rtnl.js'

export interface Underlay {
  link: Link
  family: IpFamily
  /** the address VXLAN packets are sent from */
  ip: string
  /** the address with its prefix ("192.168.1.5/24"): peers inside it are on the same underlay subnet */
  cidr: string
}

/** CniError 7 naming underlayInterface when the named link is missing or has no global address. */
export async function findUnderlay(rt: Rtnl, name: string | undefined): Promise<Underlay> {
  let link: Link | undefined
  if (name !== undefined) {
    link = await linkByName(rt, name)
    if (link === undefined) throw badUnderlay(`interface "${name}" does not exist on this host`)
  } else {
    link = await defaultRouteLink(rt)
    if (link === undefined) throw badUnderlay('this host has no default route to take the underlay interface from: set underlayInterface')
  }
  const addrs = (await listAddresses(rt, { link: link.index })).filter((a) => a.scope === RT_SCOPE_UNIVERSE)
  // IPv4 first, as flannel: an IPv6 underlay is used only when the link has no IPv4 address.
  const a = addrs.find((x) => x.family === 4) ?? addrs.find((x) => x.family === 6)
  if (a === undefined) throw badUnderlay(`interface "${link.name}" has no global IP address`)
  return { link, family: a.family, ip: a.ip, cidr: a.cidr }
}

async function defaultRouteLink(rt: Rtnl): Promise<Link | undefined> {
  for (const family of [4, 6] as const) {
    const routes = (await listRoutes(rt, { family })).filter((r) => r.dst.endsWith('/0') && r.devIndex !== undefined)
    routes.sort((x, y) => (x.metric ?? 0) - (y.metric ?? 0))
    const r = routes[0]
    if (r?.devIndex !== undefined) return linkByIndex(rt, r.devIndex)
  }
  return undefined
}

function badUnderlay(msg: string): CniError {
  return new CniError(CniCode.InvalidConfig, `invalid network configuration: underlayInterface: ${msg}`, `underlayInterface: ${msg}`)
}
