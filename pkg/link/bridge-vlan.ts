// VLANs on bridge ports (a bridge with vlan_filtering on): `bridge vlan add|del vid V dev PORT [pvid]
// [untagged] [master]`.
//
// The request is RTM_SETLINK (add) or RTM_DELLINK (delete) with family AF_BRIDGE, the port's ifindex,
// and a nested IFLA_AF_SPEC holding IFLA_BRIDGE_FLAGS (u16: BRIDGE_FLAGS_MASTER, handled by the bridge
// the port belongs to, or BRIDGE_FLAGS_SELF, the bridge device itself) and one IFLA_BRIDGE_VLAN_INFO
// (struct bridge_vlan_info { u16 flags; u16 vid; }) per VLAN, or two for a range (RANGE_BEGIN, RANGE_END).
import { constants as osConstants } from 'node:os'
import { NetlinkError } from '../errors/sys-error.js'
import { AF_BRIDGE, RTM_DELLINK, RTM_SETLINK } from './constants.js'
import { linkIndex, linkLabel, type Link, type LinkRef } from './link.js'
import { linkBody, nestedAttr, parseBridgeInfoData, type Rtnl } from './rtnl.js'

const { EINVAL } = osConstants.errno

// linux/if_link.h
export const IFLA_AF_SPEC = 26
// linux/if_bridge.h
export const IFLA_BRIDGE_FLAGS = 0
export const IFLA_BRIDGE_VLAN_INFO = 2
export const BRIDGE_FLAGS_MASTER = 1
export const BRIDGE_FLAGS_SELF = 2
export const BRIDGE_VLAN_INFO_MASTER = 1 << 0
export const BRIDGE_VLAN_INFO_PVID = 1 << 1
export const BRIDGE_VLAN_INFO_UNTAGGED = 1 << 2
export const BRIDGE_VLAN_INFO_RANGE_BEGIN = 1 << 3
export const BRIDGE_VLAN_INFO_RANGE_END = 1 << 4
export const VLAN_VID_MIN = 1
export const VLAN_VID_MAX = 4094

export interface BridgeVlanSpec {
  /** one VLAN id, or the first of a range */
  readonly vid: number
  /** last VLAN id of a range (inclusive); a range cannot be pvid */
  readonly to?: number
  /** ingress untagged frames are put in this VLAN (one per port) */
  readonly pvid?: boolean
  /** egress frames of this VLAN leave without a tag */
  readonly untagged?: boolean
  /** which side handles it: the port's bridge ("master", the default, `bridge vlan ... master`) or the device itself ("self") */
  readonly target?: 'master' | 'self'
}

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length
  const b = Buffer.alloc((len + 3) & ~3)
  b.writeUInt16LE(len, 0)
  b.writeUInt16LE(type, 2)
  payload.copy(b, 4)
  return b
}

function vlanInfo(flags: number, vid: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt16LE(flags, 0)
  p.writeUInt16LE(vid, 2)
  return attr(IFLA_BRIDGE_VLAN_INFO, p)
}

function checkVid(vid: number, what: string): void {
  if (!Number.isInteger(vid) || vid < VLAN_VID_MIN || vid > VLAN_VID_MAX) throw new NetlinkError(`bridge vlan: ${what} ${vid} out of range ${VLAN_VID_MIN}-${VLAN_VID_MAX}`, EINVAL)
}

/** The IFLA_AF_SPEC payload (not yet nested) for one VLAN or range. Pure; exported for tests. */
export function bridgeVlanAfSpec(spec: BridgeVlanSpec): Buffer {
  checkVid(spec.vid, 'vid')
  const flagsAttr = Buffer.alloc(2)
  flagsAttr.writeUInt16LE(spec.target === 'self' ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER, 0)
  let f = 0
  if (spec.pvid) f |= BRIDGE_VLAN_INFO_PVID
  if (spec.untagged) f |= BRIDGE_VLAN_INFO_UNTAGGED
  const parts = [attr(IFLA_BRIDGE_FLAGS, flagsAttr)]
  if (spec.to === undefined || spec.to === spec.vid) {
    parts.push(vlanInfo(f, spec.vid))
  } else {
    checkVid(spec.to, 'range end')
    if (spec.to < spec.vid) throw new NetlinkError(`bridge vlan: range ${spec.vid}-${spec.to} ends before it starts`, EINVAL)
    if (spec.pvid) throw new NetlinkError(`bridge vlan: a range (${spec.vid}-${spec.to}) cannot be the pvid`, EINVAL)
    parts.push(vlanInfo(f | BRIDGE_VLAN_INFO_RANGE_BEGIN, spec.vid), vlanInfo(f | BRIDGE_VLAN_INFO_RANGE_END, spec.to))
  }
  return Buffer.concat(parts)
}

const describeVlan = (s: BridgeVlanSpec) =>
  `vid ${s.vid}${s.to !== undefined && s.to !== s.vid ? `-${s.to}` : ''}${s.pvid ? ' pvid' : ''}${s.untagged ? ' untagged' : ''}`

async function vlanRequest(rt: Rtnl, type: number, verb: string, ref: LinkRef, spec: BridgeVlanSpec): Promise<void> {
  const index = await linkIndex(rt, ref)
  await rt.request({
    type,
    body: linkBody({ family: AF_BRIDGE, index }, {}, [nestedAttr(IFLA_AF_SPEC, bridgeVlanAfSpec(spec))]),
    op: `bridge vlan ${verb} ${describeVlan(spec)} on`,
    target: linkLabel(ref),
  })
}

/** `bridge vlan add vid V[-W] dev PORT [pvid] [untagged] master|self` */
export function addBridgeVlan(rt: Rtnl, port: LinkRef, spec: BridgeVlanSpec): Promise<void> {
  return vlanRequest(rt, RTM_SETLINK, 'add', port, spec)
}

/** `bridge vlan del vid V[-W] dev PORT master|self` */
export function delBridgeVlan(rt: Rtnl, port: LinkRef, spec: Omit<BridgeVlanSpec, 'pvid' | 'untagged'>): Promise<void> {
  return vlanRequest(rt, RTM_DELLINK, 'del', port, spec)
}

/** `bridge vlan del ...` where a VLAN the port does not have is success. Resolves true if one was removed. */
export async function delBridgeVlanIfExists(rt: Rtnl, port: LinkRef, spec: Omit<BridgeVlanSpec, 'pvid' | 'untagged'>): Promise<boolean> {
  try {
    await delBridgeVlan(rt, port, spec)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENOENT') return false
    throw e
  }
}

/** Sorted VLAN ids grouped into inclusive runs: [1,2,3,7] → [[1,3],[7,7]]. */
export function vlanRuns(vids: readonly number[]): [number, number][] {
  const sorted = [...new Set(vids)].sort((a, b) => a - b)
  const runs: [number, number][] = []
  for (const v of sorted) {
    const last = runs[runs.length - 1]
    if (last !== undefined && last[1] === v - 1) last[1] = v
    else runs.push([v, v])
  }
  return runs
}

/** IFLA_BR_VLAN_DEFAULT_PVID of a bridge link (the VLAN a new port joins untagged; 0: none), or undefined when not reported. */
export function bridgeDefaultPvid(bridge: Link): number | undefined {
  if (bridge.kind !== 'bridge' || bridge.infoData === undefined) return undefined
  const b = parseBridgeInfoData(bridge.infoData).vlanDefaultPvid
  return b !== undefined && b.length >= 2 ? b.readUInt16LE(0) : undefined
}
