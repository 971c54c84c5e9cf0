// Routes (IPv4 and IPv6): add, replace, delete, list.
import { NetlinkError } from '../errors/sys-error.js'
import { formatCidr, formatIp, networkOf, parseCidr, parseIp, type IpFamily } from '../ip/cidr.js'
import {
  AF_INET,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
  familyToAf,
} from './constants.js'
import { linkIndex, linkLabel, type LinkRef } from './link.js'
import { routeBody, type RouteAttrs, type Rtnl } from './rtnl.js'

const RTM_F_CLONED = 0x200

/** What to add or delete. */
export interface RouteSpec {
  /** Destination prefix; omit (or "0.0.0.0/0", "::/0") for a default route. */
  readonly dst?: string
  /** Needed only when neither dst nor gw tells the family (a default route through a device). */
  readonly family?: IpFamily
  /** Next hop ("via"). */
  readonly gw?: string
  /** Output device ("dev"). */
  readonly dev?: LinkRef
  /** Preferred source address ("src"). */
  readonly src?: string
  /** Default: link scope for an IPv4 route without gateway, universe otherwise (as `ip route add`). */
  readonly scope?: number
  /** Routing table id (default main, 254). */
  readonly table?: number
  /** "metric" / RTA_PRIORITY */
  readonly metric?: number
  /** RTAX_MTU ("mtu") */
  readonly mtu?: number
  /** RTAX_ADVMSS ("advmss") */
  readonly advmss?: number
  /** Pretend the gateway is directly attached to `dev` ("onlink", RTNH_F_ONLINK). */
  readonly onlink?: boolean
  /** RTPROT_* (default boot, as `ip route add`). */
  readonly protocol?: number
  /** RTN_* (default unicast). */
  readonly type?: number
}

/** A route as the kernel reports it. */
export interface Route {
  readonly family: IpFamily
  /** Destination prefix; "0.0.0.0/0" or "::/0" for default routes. */
  readonly dst: string
  readonly gw: string | undefined
  /** Output device ifindex */
  readonly devIndex: number | undefined
  readonly src: string | undefined
  readonly scope: number
  readonly table: number
  readonly metric: number | undefined
  readonly mtu: number | undefined
  readonly advmss: number | undefined
  readonly onlink: boolean
  readonly protocol: number
  readonly type: number
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

function familyOf(spec: RouteSpec): IpFamily {
  if (spec.dst !== undefined) return parseCidr(spec.dst).family
  if (spec.gw !== undefined) return parseIp(spec.gw).family
  if (spec.family !== undefined) return spec.family
  throw new TypeError('route: give dst, gw or family')
}

/** Text naming the route in errors: "10.0.0.0/24 via 10.0.0.1 dev eth0". */
function describe(spec: RouteSpec, family: IpFamily): string {
  let s = spec.dst === undefined ? `default (${family === 4 ? 'IPv4' : 'IPv6'})` : formatCidr(networkOf(parseCidr(spec.dst)))
  if (spec.gw !== undefined) s += ` via ${spec.gw}`
  if (spec.dev !== undefined) s += ` dev ${linkLabel(spec.dev)}`
  if (spec.table !== undefined) s += ` table ${spec.table}`
  return s
}

async function encode(rt: Rtnl, spec: RouteSpec, forDelete: boolean): Promise<{ body: Uint8Array[]; family: IpFamily }> {
  const family = familyOf(spec)
  const dst = spec.dst === undefined ? undefined : networkOf(parseCidr(spec.dst))
  if (dst !== undefined && dst.family !== family) throw new TypeError(`route ${spec.dst}: family mismatch`)
  const gw = spec.gw === undefined ? undefined : parseIp(spec.gw)
  if (gw !== undefined && gw.family !== family) throw new TypeError(`route ${spec.dst ?? 'default'} via ${spec.gw}: family mismatch`)
  const table = spec.table ?? RT_TABLE_MAIN
  const attrs: RouteAttrs = { table }
  if (dst !== undefined && dst.prefixLen > 0) attrs.dst = Buffer.from(dst.bytes)
  if (gw !== undefined) attrs.gateway = Buffer.from(gw.bytes)
  if (spec.dev !== undefined) attrs.oif = await linkIndex(rt, spec.dev)
  if (spec.src !== undefined) attrs.prefsrc = Buffer.from(parseIp(spec.src).bytes)
  if (spec.metric !== undefined) attrs.priority = spec.metric
  if (spec.mtu !== undefined || spec.advmss !== undefined) {
    attrs.metrics = {}
    if (spec.mtu !== undefined) attrs.metrics.mtu = u32(spec.mtu)
    if (spec.advmss !== undefined) attrs.metrics.advmss = u32(spec.advmss)
  }
  const scope = forDelete
    ? (spec.scope ?? RT_SCOPE_NOWHERE)
    : (spec.scope ?? (family === 4 && gw === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE))
  const body = routeBody(
    {
      family: familyToAf(family),
      dstLen: dst?.prefixLen ?? 0,
      table: table < 256 ? table : RT_TABLE_UNSPEC,
      protocol: forDelete ? (spec.protocol ?? 0) : (spec.protocol ?? RTPROT_BOOT),
      scope,
      type: forDelete ? (spec.type ?? 0) : (spec.type ?? RTN_UNICAST),
      flags: spec.onlink ? RTNH_F_ONLINK : 0,
    },
    attrs,
  )
  return { body, family }
}

async function newRoute(rt: Rtnl, spec: RouteSpec, flags: number, op: string): Promise<void> {
  const { body, family } = await encode(rt, spec, false)
  await rt.request({ type: RTM_NEWROUTE, flags, body, op, target: describe(spec, family) })
}

/** Adds a route; EEXIST if the same route is there. `ip route add DST [via GW] [dev DEV] [onlink] ...` */
export function addRoute(rt: Rtnl, spec: RouteSpec): Promise<void> {
  return newRoute(rt, spec, NLM_F_CREATE | NLM_F_EXCL, 'add route')
}

/** Adds a route or replaces the one with the same destination, table and metric. `ip route replace ...` */
export function replaceRoute(rt: Rtnl, spec: RouteSpec): Promise<void> {
  return newRoute(rt, spec, NLM_F_CREATE | NLM_F_REPLACE, 'replace route')
}

/**
 * Deletes the route matching `spec` (destination and table, plus gw/dev/metric when given); ESRCH if
 * there is none. `ip route del DST [via GW] [dev DEV] [metric M]`
 */
export async function delRoute(rt: Rtnl, spec: RouteSpec): Promise<void> {
  const { body, family } = await encode(rt, spec, true)
  await rt.request({ type: RTM_DELROUTE, body, op: 'delete route', target: describe(spec, family) })
}

/** `ip route del ...`, where a missing route (or device) is success. Resolves true if deleted. */
export async function delRouteIfExists(rt: Rtnl, spec: RouteSpec): Promise<boolean> {
  try {
    await delRoute(rt, spec)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'ESRCH' || e.code === 'ENODEV')) return false
    throw e
  }
}

/**
 * Routes of one family in one table (default main), optionally only those out of one device.
 * `ip [-4|-6] route show [table T] [dev DEV]`
 */
export async function listRoutes(rt: Rtnl, filter: { family: IpFamily; table?: number; dev?: LinkRef }): Promise<Route[]> {
  const devIndex = filter.dev === undefined ? undefined : await linkIndex(rt, filter.dev)
  const table = filter.table ?? RT_TABLE_MAIN
  const msgs = await rt.request({
    type: RTM_GETROUTE,
    flags: NLM_F_DUMP,
    body: routeBody({ family: familyToAf(filter.family) }, {}),
    op: `list IPv${filter.family} routes`,
    target: filter.dev === undefined ? rt.netns : linkLabel(filter.dev),
  })
  const out: Route[] = []
  for (const m of msgs) {
    if (m.kind !== 'route' || (m.hdr.flags & RTM_F_CLONED) !== 0) continue
    const family: IpFamily = m.hdr.family === AF_INET ? 4 : 6
    if (family !== filter.family) continue
    const t = m.attrs.table ?? m.hdr.table
    if (t !== table) continue
    const a = m.attrs
    if (devIndex !== undefined && a.oif !== devIndex) continue
    const zero = Buffer.alloc(family === 4 ? 4 : 16)
    const dstIp = formatIp(a.dst ?? zero)
    out.push({
      family,
      dst: `${dstIp}/${m.hdr.dstLen}`,
      gw: a.gateway ? formatIp(a.gateway) : undefined,
      devIndex: a.oif,
      src: a.prefsrc ? formatIp(a.prefsrc) : undefined,
      scope: m.hdr.scope,
      table: t,
      metric: a.priority,
      mtu: a.metrics?.mtu?.readUInt32LE(0),
      advmss: a.metrics?.advmss?.readUInt32LE(0),
      onlink: (m.hdr.flags & RTNH_F_ONLINK) !== 0,
      protocol: m.hdr.protocol,
      type: m.hdr.type,
    })
  }
  return out
}
