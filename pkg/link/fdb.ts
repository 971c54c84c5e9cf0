// Bridge forwarding database entries (AF_BRIDGE neighbours): the `bridge fdb` commands. On a VXLAN device
// an entry maps an inner MAC to a remote VTEP (`dst`); the all-zero MAC entries list where to flood BUM traffic.
import { NetlinkError } from '../errors/sys-error.js'
import { formatIp, parseIp } from '../ip/cidr.js'
import {
  AF_BRIDGE,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_MASTER,
  NTF_SELF,
  NUD_NOARP,
  NUD_PERMANENT,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from './constants.js'
import { linkIndex, linkLabel, type LinkRef } from './link.js'
import { formatMac, parseMac } from './mac.js'
import { neighborBody, type NeighborAttrs, type Rtnl } from './rtnl.js'

export interface FdbSpec {
  /** The device the entry belongs to (a vxlan, or a bridge port). */
  readonly link: LinkRef
  readonly mac: string
  /** Remote VTEP IP (vxlan). */
  readonly dst?: string
  /** Remote UDP port (vxlan; default: the device's). */
  readonly port?: number
  /** Remote VNI (vxlan; default: the device's). */
  readonly vni?: number
  readonly vlan?: number
  /** Put the entry in the master bridge's table (NTF_MASTER) rather than the device's own (NTF_SELF, default). */
  readonly master?: boolean
  /** "permanent" (default) or "static" (NUD_NOARP). Neither ages out. */
  readonly state?: 'permanent' | 'static'
}

/** An FDB entry as the kernel reports it. */
export interface FdbEntry {
  readonly index: number
  readonly mac: string
  readonly dst: string | undefined
  readonly port: number | undefined
  readonly vni: number | undefined
  readonly vlan: number | undefined
  readonly masterIndex: number | undefined
  /** NUD_* bits */
  readonly state: number
  /** NTF_* bits (the bridge reports its own entries without NTF_MASTER; see masterIndex) */
  readonly flags: number
}

function attrsOf(spec: FdbSpec, withKey: boolean): NeighborAttrs {
  const a: NeighborAttrs = { lladdr: parseMac(spec.mac) }
  if (spec.dst !== undefined) a.dst = Buffer.from(parseIp(spec.dst).bytes)
  if (spec.vlan !== undefined) a.vlan = spec.vlan
  if (!withKey) return a
  if (spec.port !== undefined) {
    const p = Buffer.alloc(2)
    p.writeUInt16BE(spec.port)
    a.port = p
  }
  if (spec.vni !== undefined) {
    const v = Buffer.alloc(4)
    v.writeUInt32LE(spec.vni)
    a.vni = v
  }
  return a
}

function label(spec: FdbSpec): string {
  return `${spec.mac}${spec.dst === undefined ? '' : ` dst ${spec.dst}`}`
}

async function newFdb(rt: Rtnl, spec: FdbSpec, flags: number, op: string): Promise<void> {
  const index = await linkIndex(rt, spec.link)
  await rt.request({
    type: RTM_NEWNEIGH,
    flags,
    body: neighborBody(
      { family: AF_BRIDGE, index, state: spec.state === 'static' ? NUD_NOARP : NUD_PERMANENT, flags: spec.master ? NTF_MASTER : NTF_SELF },
      attrsOf(spec, true),
    ),
    op: `${op} ${label(spec)} on`,
    target: linkLabel(spec.link),
  })
}

/** Adds an entry; EEXIST if the MAC is already there. `bridge fdb add MAC dev LINK [dst IP] self permanent` */
export function addFdb(rt: Rtnl, spec: FdbSpec): Promise<void> {
  return newFdb(rt, spec, NLM_F_CREATE | NLM_F_EXCL, 'add fdb entry')
}

/**
 * Adds one more destination for a MAC (vxlan: several remotes for the all-zero MAC). The vxlan driver
 * treats an already present MAC+dst pair as success. `bridge fdb append MAC dev LINK dst IP self permanent`
 */
export function appendFdb(rt: Rtnl, spec: FdbSpec): Promise<void> {
  return newFdb(rt, spec, NLM_F_CREATE | NLM_F_APPEND, 'append fdb entry')
}

/** Adds or overwrites the entry for the MAC. `bridge fdb replace MAC dev LINK [dst IP] self permanent` */
export function replaceFdb(rt: Rtnl, spec: FdbSpec): Promise<void> {
  return newFdb(rt, spec, NLM_F_CREATE | NLM_F_REPLACE, 'replace fdb entry')
}

/** FDB entries, optionally of one device. `bridge fdb show [dev LINK]` */
export async function listFdb(rt: Rtnl, filter: { link?: LinkRef } = {}): Promise<FdbEntry[]> {
  const index = filter.link === undefined ? undefined : await linkIndex(rt, filter.link)
  const msgs = await rt.request({
    type: RTM_GETNEIGH,
    flags: NLM_F_DUMP,
    body: neighborBody({ family: AF_BRIDGE }, {}),
    op: 'list fdb entries',
    target: filter.link === undefined ? rt.netns : linkLabel(filter.link),
  })
  const out: FdbEntry[] = []
  for (const m of msgs) {
    if (m.kind !== 'neighbor' || m.hdr.family !== AF_BRIDGE) continue
    if (index !== undefined && m.hdr.index !== index) continue
    const a = m.attrs
    if (a.lladdr === undefined || a.lladdr.length !== 6) continue
    out.push({
      index: m.hdr.index,
      mac: formatMac(a.lladdr),
      dst: a.dst ? formatIp(a.dst) : undefined,
      port: a.port && a.port.length >= 2 ? a.port.readUInt16BE(0) : undefined,
      vni: a.vni && a.vni.length >= 4 ? a.vni.readUInt32LE(0) : undefined,
      vlan: a.vlan,
      masterIndex: a.master || undefined,
      state: m.hdr.state,
      flags: m.hdr.flags,
    })
  }
  return out
}

/**
 * Deletes the entry (with `dst`, only that destination); ENOENT if the MAC is absent. The vxlan driver
 * reports success for a missing `dst` while the MAC has other destinations.
 * `bridge fdb del MAC dev LINK [dst IP] self`
 */
export async function delFdb(rt: Rtnl, spec: FdbSpec): Promise<void> {
  const index = await linkIndex(rt, spec.link)
  await rt.request({
    type: RTM_DELNEIGH,
    body: neighborBody({ family: AF_BRIDGE, index, flags: spec.master ? NTF_MASTER : NTF_SELF }, attrsOf(spec, false)),
    op: `delete fdb entry ${label(spec)} on`,
    target: linkLabel(spec.link),
  })
}

/** `bridge fdb del ...`, where a missing entry or device is success. Resolves true if deleted. */
export async function delFdbIfExists(rt: Rtnl, spec: FdbSpec): Promise<boolean> {
  try {
    await delFdb(rt, spec)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'ENOENT' || e.code === 'ENODEV')) return false
    throw e
  }
}
