// Peer state on one host: for every OTHER live lease, a route to its subnet via its VTEP address (onlink,
// out of the VXLAN device), a permanent neighbour entry VTEP address → VTEP MAC and an FDB entry VTEP MAC →
// underlay address (flannel's L3 VXLAN model); with directRouting, a peer on the same underlay subnet gets a
// plain route via its underlay address instead. Entries are per host, never per container.
//
// reconcilePeers() compares the kernel with the plan and changes only the difference: entries already right
// are left alone, so a restarted agent disturbs no traffic. Routes berth manages carry their own protocol
// number (RTPROT_BERTH), which is how stale ones are found without touching anyone else's.
import { formatIp, netContains, networkOf, parseCidr, parseIp } from '../ip/cidr.js'
import { delFdbIfExists, listFdb, replaceFdb } from '../link/fdb.js'
import type { Link } from '../link/link.js'
import { delNeighborIfExists, listNeighbors, replaceNeighbor } from '../link/neigh.js'
import { NUD_PERMANENT } from '../link/constants.js'
import { delRouteIfExists, listRoutes, replaceRoute, type Route } from '../link/route.js'
import type { Rtnl } from '../link/rtnl.js'
import { vtepAddressOf } from './config.js'
import type { Lease } from './store.js'

/** Route protocol of berth's overlay routes (unassigned in iproute2's rt_protos; `ip route show proto 190`). */
export const RTPROT_BERTH = 190

export interface PlanContext {
  /** this host's lease id: its own lease gets no entries */
  hostId: string
  clusterCidr: string
  /** this host's underlay address with prefix, for directRouting */
  underlayCidr: string
  directRouting: boolean
}

export interface RouteWant {
  dst: string
  gw: string
  /** 'vxlan': out of the VXLAN device, onlink; 'underlay': a plain route via the peer's underlay address */
  via: 'vxlan' | 'underlay'
}

export interface PeerPlan {
  /** by destination subnet */
  routes: Map<string, RouteWant>
  /** VTEP address → VTEP MAC */
  neighbors: Map<string, string>
  /** VTEP MAC → underlay address */
  fdb: Map<string, string>
}

/** What the host's tables should hold for this set of live leases (pure). */
export function planPeers(leases: readonly Lease[], ctx: PlanContext): PeerPlan {
  const plan: PeerPlan = { routes: new Map(), neighbors: new Map(), fdb: new Map() }
  const cluster = parseCidr(ctx.clusterCidr)
  const underlay = parseCidr(ctx.underlayCidr)
  for (const l of leases) {
    if (l.hostId === ctx.hostId) continue
    const subnet = networkOf(parseCidr(l.subnet))
    // A record outside the cluster CIDR (another network's, or corrupt) never becomes a route here.
    if (!netContains(cluster, subnet) || subnet.prefixLen < cluster.prefixLen) continue
    const dst = `${formatIp(subnet.bytes)}/${subnet.prefixLen}`
    const pub = parseIp(l.publicIp)
    if (ctx.directRouting && l.directRoutingOk === true && netContains(underlay, pub)) {
      plan.routes.set(dst, { dst, gw: l.publicIp, via: 'underlay' })
      continue
    }
    const vtep = vtepAddressOf(dst)
    const mac = l.vtepMac.toLowerCase()
    plan.routes.set(dst, { dst, gw: vtep, via: 'vxlan' })
    plan.neighbors.set(vtep, mac)
    plan.fdb.set(mac, l.publicIp)
  }
  return plan
}

export interface ReconcileStats {
  added: number
  removed: number
  unchanged: number
}

export interface ReconcileTarget {
  vxlan: Pick<Link, 'index' | 'name'>
  underlay: Pick<Link, 'index' | 'name'>
  clusterCidr: string
}

/** Brings the host's routes, neighbours and FDB entries to `plan`, changing only what differs. */
export async function reconcilePeers(rt: Rtnl, plan: PeerPlan, t: ReconcileTarget): Promise<ReconcileStats> {
  const s: ReconcileStats = { added: 0, removed: 0, unchanged: 0 }
  const cluster = parseCidr(t.clusterCidr)

  // 1. FDB and neighbours before routes: a new route must find its next hop resolvable at once.
  const fdb = (await listFdb(rt, { link: t.vxlan.index })).filter((e) => e.masterIndex === undefined)
  const fdbHave = new Map<string, string[]>()
  for (const e of fdb) fdbHave.set(e.mac, [...(fdbHave.get(e.mac) ?? []), e.dst ?? ''])
  for (const [mac, dst] of plan.fdb) {
    const have = fdbHave.get(mac)
    if (have !== undefined && have.length === 1 && have[0] === dst) s.unchanged++
    else {
      await replaceFdb(rt, { link: t.vxlan.index, mac, dst })
      s.added++
    }
  }
  for (const e of fdb) {
    if (plan.fdb.get(e.mac) === e.dst) continue
    if (plan.fdb.has(e.mac) && e.dst === undefined) continue
    if (await delFdbIfExists(rt, { link: t.vxlan.index, mac: e.mac, ...(e.dst !== undefined ? { dst: e.dst } : {}) })) s.removed++
  }

  const neigh = await listNeighbors(rt, { link: t.vxlan.index, family: 4 })
  const neighHave = new Map(neigh.map((n) => [n.ip, n]))
  for (const [ip, mac] of plan.neighbors) {
    const n = neighHave.get(ip)
    if (n !== undefined && n.mac === mac && (n.state & NUD_PERMANENT) !== 0) s.unchanged++
    else {
      await replaceNeighbor(rt, { link: t.vxlan.index, ip, mac })
      s.added++
    }
  }
  for (const n of neigh) {
    if (plan.neighbors.has(n.ip)) continue
    if (await delNeighborIfExists(rt, { link: t.vxlan.index, ip: n.ip })) s.removed++
  }

  // 2. Routes: ours are the ones with our protocol inside the cluster CIDR.
  const routes = (await listRoutes(rt, { family: 4 })).filter((r) => r.protocol === RTPROT_BERTH && netContains(cluster, parseCidr(r.dst)))
  const routeHave = new Map(routes.map((r) => [r.dst, r]))
  for (const [dst, want] of plan.routes) {
    const r = routeHave.get(dst)
    if (r !== undefined && routeMatches(r, want, t)) s.unchanged++
    else {
      await replaceRoute(rt, {
        dst,
        gw: want.gw,
        dev: want.via === 'vxlan' ? t.vxlan.index : t.underlay.index,
        onlink: want.via === 'vxlan',
        protocol: RTPROT_BERTH,
      })
      s.added++
    }
  }
  for (const r of routes) {
    if (plan.routes.has(r.dst)) continue
    if (await delRouteIfExists(rt, { dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}), protocol: RTPROT_BERTH })) s.removed++
  }
  return s
}

function routeMatches(r: Route, want: RouteWant, t: ReconcileTarget): boolean {
  const dev = want.via === 'vxlan' ? t.vxlan.index : t.underlay.index
  return r.gw === want.gw && r.devIndex === dev && r.onlink === (want.via === 'vxlan')
}
