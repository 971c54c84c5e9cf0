// Neighbour (ARP / NDP) entries.
import { NetlinkError } from '../errors/sys-error.js'
import { formatIp, parseIp, type IpFamily } from '../ip/cidr.js'
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_ROUTER,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
  familyToAf,
} from './constants.js'
import { linkIndex, linkLabel, type LinkRef } from './link.js'
import { formatMac, parseMac } from './mac.js'
import { neighborBody, type Rtnl } from './rtnl.js'

export const NeighborState = {
  permanent: NUD_PERMANENT,
  noarp: NUD_NOARP,
  reachable: NUD_REACHABLE,
  stale: NUD_STALE,
} as const
export type NeighborState = keyof typeof NeighborState

export interface NeighborSpec {
  readonly link: LinkRef
  readonly ip: string
  readonly mac: string
  /** Default "permanent" (never expires, never probed). */
  readonly state?: NeighborState
  /** IPv6: mark the neighbour as a router (NTF_ROUTER). */
  readonly router?: boolean
}

/** A neighbour entry as the kernel reports it. */
export interface Neighbor {
  readonly index: number
  readonly family: IpFamily
  readonly ip: string
  readonly mac: string | undefined
  /** NUD_* bits */
  readonly state: number
  /** NTF_* bits */
  readonly flags: number
}

async function newNeigh(rt: Rtnl, spec: NeighborSpec, flags: number, op: string): Promise<void> {
  const ip = parseIp(spec.ip)
  const index = await linkIndex(rt, spec.link)
  await rt.request({
    type: RTM_NEWNEIGH,
    flags,
    body: neighborBody(
      { family: familyToAf(ip.family), index, state: NeighborState[spec.state ?? 'permanent'], flags: spec.router ? NTF_ROUTER : 0 },
      { dst: Buffer.from(ip.bytes), lladdr: parseMac(spec.mac) },
    ),
    op: `${op} ${spec.ip} lladdr ${spec.mac} on`,
    target: linkLabel(spec.link),
  })
}

/** Adds an entry; EEXIST if one for that IP exists. `ip neigh add IP lladdr MAC dev LINK nud permanent` */
export function addNeighbor(rt: Rtnl, spec: NeighborSpec): Promise<void> {
  return newNeigh(rt, spec, NLM_F_CREATE | NLM_F_EXCL, 'add neighbour')
}

/** Adds or overwrites the entry for that IP. `ip neigh replace IP lladdr MAC dev LINK nud permanent` */
export function replaceNeighbor(rt: Rtnl, spec: NeighborSpec): Promise<void> {
  return newNeigh(rt, spec, NLM_F_CREATE | NLM_F_REPLACE, 'replace neighbour')
}

/** Neighbour entries, optionally of one link and/or family. `ip [-4|-6] neigh show [dev LINK]` */
export async function listNeighbors(rt: Rtnl, filter: { link?: LinkRef; family?: IpFamily } = {}): Promise<Neighbor[]> {
  const index = filter.link === undefined ? undefined : await linkIndex(rt, filter.link)
  const msgs = await rt.request({
    type: RTM_GETNEIGH,
    flags: NLM_F_DUMP,
    body: neighborBody({ family: filter.family === undefined ? AF_UNSPEC : familyToAf(filter.family) }, {}),
    op: 'list neighbours',
    target: filter.link === undefined ? rt.netns : linkLabel(filter.link),
  })
  const out: Neighbor[] = []
  for (const m of msgs) {
    if (m.kind !== 'neighbor' || (m.hdr.family !== AF_INET && m.hdr.family !== AF_INET6)) continue
    if (index !== undefined && m.hdr.index !== index) continue
    if (m.attrs.dst === undefined) continue
    const family: IpFamily = m.hdr.family === AF_INET ? 4 : 6
    if (filter.family !== undefined && family !== filter.family) continue
    out.push({
      index: m.hdr.index,
      family,
      ip: formatIp(m.attrs.dst),
      mac: m.attrs.lladdr && m.attrs.lladdr.length === 6 ? formatMac(m.attrs.lladdr) : undefined,
      state: m.hdr.state,
      flags: m.hdr.flags,
    })
  }
  return out
}

/** Deletes the entry for IP on LINK; ENOENT if there is none. `ip neigh del IP dev LINK` */
export async function delNeighbor(rt: Rtnl, spec: { link: LinkRef; ip: string }): Promise<void> {
  const ip = parseIp(spec.ip)
  const index = await linkIndex(rt, spec.link)
  await rt.request({
    type: RTM_DELNEIGH,
    body: neighborBody({ family: familyToAf(ip.family), index }, { dst: Buffer.from(ip.bytes) }),
    op: `delete neighbour ${spec.ip} on`,
    target: linkLabel(spec.link),
  })
}

/** `ip neigh del IP dev LINK`, where a missing entry or link is success. Resolves true if deleted. */
export async function delNeighborIfExists(rt: Rtnl, spec: { link: LinkRef; ip: string }): Promise<boolean> {
  try {
    await delNeighbor(rt, spec)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'ENOENT' || e.code === 'ENODEV')) return false
    throw e
  }
}
