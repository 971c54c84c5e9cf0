// VXLAN devices.
import { NetlinkError } from '../errors/sys-error.js'
import { constants as osConstants } from 'node:os'
import { formatIp, parseIp } from '../ip/cidr.js'
import { getLink, linkByName, linkLabel, type Link, type LinkRef } from './link.js'
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import { parseVxlanInfoData, vxlanInfoData, type Rtnl, type Vxlan } from './rtnl.js'

const { EEXIST, ENODEV } = osConstants.errno

/** The IANA VXLAN port. The kernel's own default (8472) predates it, so berth always sends a port. */
export const VXLAN_PORT = 4789

export interface VxlanSpec extends CommonLinkOptions {
  readonly name: string
  /** VXLAN Network Identifier, 0..16777215. */
  readonly vni: number
  /** UDP destination port (default 4789). */
  readonly port?: number
  /** Source address of the encapsulated packets (IPv4 or IPv6). */
  readonly local?: string
  /** Unicast remote or multicast group (IPv4 or IPv6); omit when peers come from FDB entries. */
  readonly remote?: string
  /** The underlay device, in the handle's namespace. */
  readonly underlay?: LinkRef
  /** MAC learning on the overlay (kernel default: on). berth's overlay uses static FDB entries, so off. */
  readonly learning?: boolean
  /** Outer TTL (0 = inherit). */
  readonly ttl?: number
  readonly tos?: number
  /** FDB ageing time in seconds. */
  readonly ageing?: number
  /** UDP source port range [low, high]. */
  readonly srcPortRange?: readonly [number, number]
  /** Compute UDP checksums (IPv4 underlay). */
  readonly udpCsum?: boolean
  /** Reply to ARP/ND from the neighbour table (proxy). */
  readonly proxy?: boolean
  readonly l2miss?: boolean
  readonly l3miss?: boolean
}

/** Settings read back from a vxlan link. */
export interface VxlanInfo {
  readonly vni: number | undefined
  readonly port: number | undefined
  readonly local: string | undefined
  readonly remote: string | undefined
  readonly underlayIndex: number | undefined
  readonly learning: boolean | undefined
  readonly ttl: number | undefined
  readonly tos: number | undefined
  readonly ageing: number | undefined
}

const flag = (b: boolean | undefined): number | undefined => (b === undefined ? undefined : b ? 1 : 0)

async function encode(rt: Rtnl, spec: VxlanSpec): Promise<Vxlan> {
  if (!Number.isInteger(spec.vni) || spec.vni < 0 || spec.vni > 0xffffff) throw new RangeError(`vxlan ${spec.name}: VNI ${spec.vni} is not in 0..16777215`)
  const d: Vxlan = { id: spec.vni }
  const port = Buffer.alloc(2)
  port.writeUInt16BE(spec.port ?? VXLAN_PORT)
  d.port = port
  if (spec.local !== undefined) {
    const ip = parseIp(spec.local)
    if (ip.family === 4) d.local = Buffer.from(ip.bytes)
    else d.local6 = Buffer.from(ip.bytes)
  }
  if (spec.remote !== undefined) {
    const ip = parseIp(spec.remote)
    if (ip.family === 4) d.group = Buffer.from(ip.bytes)
    else d.group6 = Buffer.from(ip.bytes)
  }
  if (spec.underlay !== undefined) {
    const idx = typeof spec.underlay === 'number' ? spec.underlay : typeof spec.underlay === 'string' ? (await linkByName(rt, spec.underlay))?.index : spec.underlay.index
    if (idx === undefined) throw new NetlinkError('create vxlan (underlay device not found)', ENODEV, linkLabel(spec.underlay))
    d.link = idx
  }
  const set = <K extends keyof Vxlan>(k: K, v: Vxlan[K] | undefined): void => {
    if (v !== undefined) d[k] = v
  }
  set('learning', flag(spec.learning))
  set('ttl', spec.ttl)
  set('tos', spec.tos)
  set('ageing', spec.ageing)
  set('udpCsum', flag(spec.udpCsum))
  set('proxy', flag(spec.proxy))
  set('l2miss', flag(spec.l2miss))
  set('l3miss', flag(spec.l3miss))
  if (spec.srcPortRange !== undefined) {
    const r = Buffer.alloc(4)
    r.writeUInt16BE(spec.srcPortRange[0], 0)
    r.writeUInt16BE(spec.srcPortRange[1], 2)
    d.portRange = r
  }
  return d
}

/**
 * Creates a VXLAN device; EEXIST if the name is taken (the kernel also refuses a second device with the
 * same VNI, port and underlay in one namespace: EEXIST as well).
 * `ip link add NAME type vxlan id VNI dstport PORT [local IP] [remote|group IP] [dev UNDERLAY]
 *  [nolearning] [ttl N] [tos N] [ageing S] [srcport LOW HIGH] [udpcsum] [proxy] [l2miss] [l3miss]`
 */
export async function createVxlan(rt: Rtnl, spec: VxlanSpec): Promise<void> {
  await createLinkOfKind(rt, { name: spec.name, kind: 'vxlan', common: spec, infoData: vxlanInfoData(await encode(rt, spec)) })
}

/**
 * Returns the VXLAN device `spec.name`, creating it if missing. An existing one is reused when it is a
 * vxlan with the same VNI, port and (if given) local address; anything else of that name is
 * NetlinkError("ensure vxlan", EEXIST, name).
 */
export async function ensureVxlan(rt: Rtnl, spec: VxlanSpec): Promise<Link> {
  let link = await linkByName(rt, spec.name)
  if (link === undefined) {
    try {
      await createVxlan(rt, spec)
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e
    }
    link = await getLink(rt, spec.name)
  }
  const info = vxlanInfoOf(link)
  const sameLocal = spec.local === undefined || (info?.local !== undefined && info.local === formatIp(parseIp(spec.local).bytes))
  if (info === undefined || info.vni !== spec.vni || info.port !== (spec.port ?? VXLAN_PORT) || !sameLocal) {
    const found = info === undefined ? (link.kind ?? 'a device') : `vxlan id ${String(info.vni)} dstport ${String(info.port)} local ${info.local ?? 'any'}`
    throw new NetlinkError(`ensure vxlan (found ${found})`, EEXIST, spec.name)
  }
  return link
}

/** Settings of a vxlan link, or undefined if it is not one. */
export function vxlanInfoOf(link: Link): VxlanInfo | undefined {
  if (link.kind !== 'vxlan' || link.infoData === undefined) return undefined
  const d = parseVxlanInfoData(link.infoData)
  const ip = (b: Buffer | undefined): string | undefined => (b && b.some((x) => x !== 0) ? formatIp(b) : undefined)
  return {
    vni: d.id,
    port: d.port && d.port.length >= 2 ? d.port.readUInt16BE(0) : undefined,
    local: ip(d.local) ?? ip(d.local6),
    remote: ip(d.group) ?? ip(d.group6),
    underlayIndex: d.link || undefined,
    learning: d.learning === undefined ? undefined : d.learning !== 0,
    ttl: d.ttl,
    tos: d.tos,
    ageing: d.ageing,
  }
}
