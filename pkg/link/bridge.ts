// Linux bridges.
import { NetlinkError } from '../errors/sys-error.js'
import { constants as osConstants } from 'node:os'
import { RTM_NEWLINK } from './constants.js'
import { getLink, linkByName, linkIndex, linkLabel, type Link, type LinkRef } from './link.js'
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import { bridgeInfoData, linkBody, linkInfoData, parseBridgeInfoData, type Bridge, type Rtnl } from './rtnl.js'

const { EEXIST } = osConstants.errno

export interface BridgeSpec extends CommonLinkOptions {
  readonly name: string
  /** IFLA_BR_VLAN_FILTERING; kernel default is off. */
  readonly vlanFiltering?: boolean
}

function bridgeData(spec: { vlanFiltering?: boolean }): Bridge {
  const d: Bridge = {}
  if (spec.vlanFiltering !== undefined) d.vlanFiltering = Buffer.of(spec.vlanFiltering ? 1 : 0)
  return d
}

/**
 * Creates a bridge; EEXIST if the name is taken.
 * `ip link add NAME [mtu M] [address MAC] type bridge [vlan_filtering 0|1]`
 */
export async function createBridge(rt: Rtnl, spec: BridgeSpec): Promise<void> {
  await createLinkOfKind(rt, { name: spec.name, kind: 'bridge', common: spec, infoData: bridgeInfoData(bridgeData(spec)) })
}

/**
 * Returns the bridge `spec.name`, creating it if missing. An existing bridge is reused as it is, except
 * that vlan_filtering is set when `spec.vlanFiltering` is given and differs; an existing link of another
 * kind is NetlinkError("ensure bridge", EEXIST, name).
 */
export async function ensureBridge(rt: Rtnl, spec: BridgeSpec): Promise<Link> {
  let link = await linkByName(rt, spec.name)
  if (link === undefined) {
    try {
      await createBridge(rt, spec)
    } catch (e) {
      // Lost a race with another ADD creating the same bridge: reuse it below.
      if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e
    }
    link = await getLink(rt, spec.name)
  }
  if (link.kind !== 'bridge') throw new NetlinkError(`ensure bridge (found ${link.kind ?? 'a device'} of that name)`, EEXIST, spec.name)
  if (spec.vlanFiltering !== undefined && bridgeInfoOf(link)?.vlanFiltering !== spec.vlanFiltering) {
    await setBridgeVlanFiltering(rt, link, spec.vlanFiltering)
    link = await getLink(rt, link.index)
  }
  return link
}

/** `ip link set NAME type bridge vlan_filtering 0|1` */
export async function setBridgeVlanFiltering(rt: Rtnl, ref: LinkRef, on: boolean): Promise<void> {
  const index = await linkIndex(rt, ref)
  await rt.request({
    type: RTM_NEWLINK,
    body: linkBody({ index }, { linkinfo: linkInfoData({ kind: 'bridge', data: bridgeInfoData(bridgeData({ vlanFiltering: on })) }) }),
    op: `set bridge vlan_filtering ${on ? 1 : 0}`,
    target: linkLabel(ref),
  })
}

/** Bridge settings read back from a link of kind "bridge". */
export function bridgeInfoOf(link: Link): { vlanFiltering: boolean } | undefined {
  if (link.kind !== 'bridge' || link.infoData === undefined) return undefined
  const d = parseBridgeInfoData(link.infoData)
  return { vlanFiltering: (d.vlanFiltering?.[0] ?? 0) !== 0 }
}
