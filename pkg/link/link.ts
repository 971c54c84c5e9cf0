// Links (network interfaces): look-up, listing, and the `ip link set` family of changes.
// Every function takes the Rtnl of the namespace it operates on; nothing depends on the thread's namespace.
import type { NetnsHandle } from '../ns/netns.js'
import { NetlinkError } from '../errors/sys-error.js'
import { constants as osConstants } from 'node:os'
import {
  AF_BRIDGE,
  AF_UNSPEC,
  BRIDGE_MODE_HAIRPIN,
  BRIDGE_MODE_VEB,
  IFF_PROMISC,
  IFF_UP,
  IFLA_PROTINFO,
  NLM_F_DUMP,
  OperState,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_SETLINK,
} from './constants.js'
import { formatMac, parseMac } from './mac.js'
import {
  bridgePortData,
  linkBody,
  nestedAttr,
  parseBridgePortData,
  parseLinkInfo,
  type BridgePort,
  type IfInfoMsg,
  type LinkAttrs,
  type Rtnl,
  type RtMessage,
} from './rtnl.js'

const { ENODEV } = osConstants.errno

/** A link as the kernel reports it (RTM_NEWLINK reply), reduced to what berth uses. */
export interface Link {
  readonly index: number
  readonly name: string
  /** IFLA_INFO_KIND: "veth", "bridge", "vxlan", "macvlan", ...; undefined for loopback and hardware. */
  readonly kind: string | undefined
  readonly mtu: number
  /** "aa:bb:cc:dd:ee:ff", or undefined for links without a hardware address. */
  readonly mac: string | undefined
  /** IFF_* flags (ifi_flags). */
  readonly flags: number
  /** Administratively up (IFF_UP). */
  readonly up: boolean
  readonly promisc: boolean
  readonly operstate: OperState
  /** ifindex of the master (bridge) this link is enslaved to. */
  readonly masterIndex: number | undefined
  /** IFLA_LINK: the parent (macvlan, vxlan underlay) or, for a veth, the peer's ifindex. */
  readonly parentIndex: number | undefined
  /**
   * IFLA_LINK_NETNSID: the id, in this namespace, of the namespace where parentIndex lives (a veth
   * whose peer is elsewhere). undefined when the parent is in the same namespace.
   */
  readonly netnsId: number | undefined
  /** IFLA_INFO_SLAVE_KIND: "bridge" for a bridge port. */
  readonly slaveKind: string | undefined
  /** Raw IFLA_INFO_DATA, decoded by the kind's module (vxlan.ts, bridge.ts, macvlan.ts). */
  readonly infoData: Buffer | undefined
  /** Raw IFLA_INFO_SLAVE_DATA (IFLA_BRPORT_* for a bridge port). */
  readonly slaveData: Buffer | undefined
  /** IFLA_IFALIAS (`ip link set NAME alias TEXT`); undefined when none is set. */
  readonly alias?: string | undefined
}

/** A link named by its name, its ifindex, or a Link already looked up. */
export type LinkRef = string | number | Pick<Link, 'index' | 'name'>

/** Text naming a LinkRef in errors. */
export function linkLabel(ref: LinkRef): string {
  return typeof ref === 'string' ? ref : typeof ref === 'number' ? `ifindex ${ref}` : ref.name
}

/** The ifinfomsg/IFLA_IFNAME pair that makes the kernel find `ref`. */
function selector(ref: LinkRef): { hdr: Partial<IfInfoMsg>; attrs: LinkAttrs } {
  if (typeof ref === 'string') return { hdr: { index: 0 }, attrs: { ifname: ref } }
  return { hdr: { index: typeof ref === 'number' ? ref : ref.index }, attrs: {} }
}

const EXT_MASK = Buffer.alloc(4)
EXT_MASK.writeUInt32LE(RTEXT_FILTER_SKIP_STATS)

/** Converts one RTM_NEWLINK message. */
export function toLink(m: RtMessage): Link {
  if (m.kind !== 'link') throw new Error(`expected a link message, got ${m.kind}`)
  const a = m.attrs
  const info = a.linkinfo ? parseLinkInfo(a.linkinfo) : undefined
  return {
    index: m.hdr.index,
    name: a.ifname ?? '',
    kind: info?.kind,
    mtu: a.mtu ?? 0,
    mac: a.address && a.address.length === 6 ? formatMac(a.address) : undefined,
    flags: m.hdr.flags,
    up: (m.hdr.flags & IFF_UP) !== 0,
    promisc: (m.hdr.flags & IFF_PROMISC) !== 0,
    operstate: OperState[(a.operstate ?? 0) as keyof typeof OperState] ?? 'unknown',
    masterIndex: a.master || undefined,
    parentIndex: a.link && a.link.length >= 4 ? a.link.readUInt32LE(0) || undefined : undefined,
    netnsId: a.linkNetnsid !== undefined && a.linkNetnsid >= 0 ? a.linkNetnsid : undefined,
    slaveKind: info?.slaveKind,
    infoData: info?.data,
    slaveData: info?.slaveData,
    alias: a.ifalias || undefined,
  }
}

/** All links in the handle's namespace. `ip link show` */
export async function listLinks(rt: Rtnl): Promise<Link[]> {
  const msgs = await rt.request({
    type: RTM_GETLINK,
    flags: NLM_F_DUMP,
    body: linkBody({ family: AF_UNSPEC }, { extMask: EXT_MASK }),
    op: 'list links',
    target: rt.netns,
  })
  return msgs.filter((m) => m.kind === 'link').map(toLink)
}

async function getLinkMsg(rt: Rtnl, ref: LinkRef): Promise<Link | undefined> {
  const { hdr, attrs } = selector(ref)
  try {
    const msgs = await rt.request({ type: RTM_GETLINK, body: linkBody(hdr, { ...attrs, extMask: EXT_MASK }), op: 'get link', target: linkLabel(ref) })
    const m = msgs.find((x) => x.kind === 'link')
    return m ? toLink(m) : undefined
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined
    throw e
  }
}

/** The link called `name`, or undefined if there is none (a name over 15 bytes is ERANGE). `ip link show NAME` */
export function linkByName(rt: Rtnl, name: string): Promise<Link | undefined> {
  return getLinkMsg(rt, name)
}

/** The link with ifindex `index`, or undefined if there is none. `ip link show` + match on index */
export function linkByIndex(rt: Rtnl, index: number): Promise<Link | undefined> {
  return getLinkMsg(rt, index)
}

/** The link `ref`; throws NetlinkError("get link", ENODEV, name) when it does not exist. */
export async function getLink(rt: Rtnl, ref: LinkRef): Promise<Link> {
  const l = await getLinkMsg(rt, ref)
  if (l === undefined) throw new NetlinkError('get link', ENODEV, linkLabel(ref))
  return l
}

/** The ifindex of `ref`; a name is looked up (NetlinkError "get link" ENODEV when missing). */
export async function linkIndex(rt: Rtnl, ref: LinkRef): Promise<number> {
  if (typeof ref === 'number') return ref
  if (typeof ref === 'string') return (await getLink(rt, ref)).index
  return ref.index
}

/** RTM_NEWLINK/RTM_SETLINK on an existing link: change attributes and/or flags. */
async function setLink(rt: Rtnl, ref: LinkRef, op: string, attrs: LinkAttrs, flags?: { set: number; mask: number }): Promise<void> {
  const sel = selector(ref)
  await rt.request({
    type: RTM_SETLINK,
    body: linkBody({ ...sel.hdr, flags: flags?.set ?? 0, change: flags?.mask ?? 0 }, { ...sel.attrs, ...attrs }),
    op,
    target: linkLabel(ref),
  })
}

/** `ip link set NAME up` */
export function setLinkUp(rt: Rtnl, ref: LinkRef): Promise<void> {
  return setLink(rt, ref, 'set link up', {}, { set: IFF_UP, mask: IFF_UP })
}

/** `ip link set NAME down` */
export function setLinkDown(rt: Rtnl, ref: LinkRef): Promise<void> {
  return setLink(rt, ref, 'set link down', {}, { set: 0, mask: IFF_UP })
}

/** `ip link set NAME promisc on|off` */
export function setLinkPromisc(rt: Rtnl, ref: LinkRef, on: boolean): Promise<void> {
  return setLink(rt, ref, `set link promisc ${on ? 'on' : 'off'}`, {}, { set: on ? IFF_PROMISC : 0, mask: IFF_PROMISC })
}

/** `ip link set NAME mtu MTU` */
export function setLinkMtu(rt: Rtnl, ref: LinkRef, mtu: number): Promise<void> {
  return setLink(rt, ref, 'set link mtu', { mtu })
}

/** `ip link set NAME address MAC` */
export function setLinkMac(rt: Rtnl, ref: LinkRef, mac: string): Promise<void> {
  return setLink(rt, ref, 'set link address', { address: parseMac(mac) })
}

/** `ip link set NAME alias TEXT`; an empty text removes the alias. */
export function setLinkAlias(rt: Rtnl, ref: LinkRef, alias: string): Promise<void> {
  return setLink(rt, ref, 'set link alias', { ifalias: alias })
}

/** `ip link set NAME name NEWNAME` (the link must be down). */
export async function renameLink(rt: Rtnl, ref: LinkRef, newName: string): Promise<void> {
  const index = await linkIndex(rt, ref)
  await rt.request({ type: RTM_SETLINK, body: linkBody({ index }, { ifname: newName }), op: `set name ${newName} on`, target: linkLabel(ref) })
}

/**
 * Moves a link into the namespace `ns` (by fd), optionally renaming it on the way.
 * `ip link set NAME netns NS [name NEWNAME]`
 *
 * Not atomic when renaming: if NEWNAME is taken in `ns`, the kernel still moves the link (under its
 * old name) and then fails with EEXIST. Callers that must not leave it there check the name first or
 * clean up in `ns`.
 */
export async function moveLinkToNetns(rt: Rtnl, ref: LinkRef, ns: NetnsHandle, newName?: string): Promise<void> {
  const index = await linkIndex(rt, ref)
  const attrs: LinkAttrs = { netNsFd: ns.fd }
  if (newName !== undefined) attrs.ifname = newName
  await rt.request({ type: RTM_SETLINK, body: linkBody({ index }, attrs), op: `set netns ${ns.path} on`, target: linkLabel(ref) })
}

/** `ip link set NAME master MASTER` */
export async function setLinkMaster(rt: Rtnl, ref: LinkRef, master: LinkRef): Promise<void> {
  const masterIndex = typeof master === 'number' ? master : typeof master === 'string' ? (await linkByName(rt, master))?.index : master.index
  if (masterIndex === undefined) throw new NetlinkError(`set master ${linkLabel(master)} on`, ENODEV, linkLabel(ref))
  await setLink(rt, ref, `set master ${linkLabel(master)} on`, { master: masterIndex })
}

/** `ip link set NAME nomaster` */
export function setLinkNoMaster(rt: Rtnl, ref: LinkRef): Promise<void> {
  return setLink(rt, ref, 'set nomaster on', { master: 0 })
}

/** Settings of a bridge port (IFLA_BRPORT_*). */
export interface BridgePortOptions {
  /** Send frames back out of the port they came in on (needed for hairpin NAT to a container's own port). */
  readonly hairpin?: boolean
  /** Learn source MACs on this port. */
  readonly learning?: boolean
  /** Flood unknown unicast to this port. */
  readonly flood?: boolean
  /** Isolated port: forwards only to non-isolated ports (IFLA_BRPORT_ISOLATED). */
  readonly isolated?: boolean
}

/**
 * Sets bridge-port options on a link enslaved to a bridge.
 * `bridge link set dev NAME hairpin on|off learning on|off flood on|off isolated on|off`
 */
export async function setBridgePort(rt: Rtnl, ref: LinkRef, opts: BridgePortOptions): Promise<void> {
  const index = await linkIndex(rt, ref)
  const port: BridgePort = {}
  if (opts.hairpin !== undefined) port.mode = opts.hairpin ? BRIDGE_MODE_HAIRPIN : BRIDGE_MODE_VEB
  if (opts.learning !== undefined) port.learning = opts.learning ? 1 : 0
  if (opts.flood !== undefined) port.unicastFlood = opts.flood ? 1 : 0
  if (opts.isolated !== undefined) port.isolated = Buffer.of(opts.isolated ? 1 : 0)
  // AF_BRIDGE RTM_SETLINK goes to the master's ndo_bridge_setlink, which finds the port by ifindex only.
  await rt.request({
    type: RTM_SETLINK,
    body: linkBody({ family: AF_BRIDGE, index }, {}, [nestedAttr(IFLA_PROTINFO, bridgePortData(port))]),
    op: 'set bridge port',
    target: linkLabel(ref),
  })
}

/** Bridge-port state as read back from IFLA_INFO_SLAVE_DATA; undefined if `link` is not a bridge port. */
export function bridgePortOf(link: Link): { hairpin: boolean; learning: boolean; flood: boolean } | undefined {
  if (link.slaveKind !== 'bridge' || link.slaveData === undefined) return undefined
  const p = parseBridgePortData(link.slaveData)
  return { hairpin: p.mode === BRIDGE_MODE_HAIRPIN, learning: p.learning === 1, flood: p.unicastFlood === 1 }
}

/** `ip link del NAME`; throws NetlinkError ENODEV when it does not exist. */
export async function delLink(rt: Rtnl, ref: LinkRef): Promise<void> {
  const sel = selector(ref)
  await rt.request({ type: RTM_DELLINK, body: linkBody(sel.hdr, sel.attrs), op: 'delete link', target: linkLabel(ref) })
}

/** `ip link del NAME`, where a missing link is success. Resolves true if something was deleted. */
export async function delLinkIfExists(rt: Rtnl, ref: LinkRef): Promise<boolean> {
  try {
    await delLink(rt, ref)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return false
    throw e
  }
}
