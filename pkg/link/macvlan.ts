// macvlan links on a parent device.
import { NetlinkError } from '../errors/sys-error.js'
import { constants as osConstants } from 'node:os'
import { IFLA_MACVLAN_BC_QUEUE_LEN, MacvlanMode } from './constants.js'
import { linkByName, linkLabel, type Link, type LinkRef } from './link.js'
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import { macvlanInfoData, parseMacvlanInfoData, u32Attr, type Rtnl } from './rtnl.js'

const { ENODEV } = osConstants.errno

export interface MacvlanSpec extends CommonLinkOptions {
  readonly name: string
  /** The parent (lower) device, in the handle's namespace. */
  readonly parent: LinkRef
  /** Default "bridge". */
  readonly mode?: MacvlanMode
  /** Length of the queue of broadcast/multicast frames waiting for delivery to the macvlans (kernel default 1000). */
  readonly bcQueueLen?: number
}

/**
 * Creates a macvlan on `parent`, optionally directly inside `netns`; EEXIST if the name is taken there.
 * `ip link add NAME link PARENT [netns NS] [mtu M] type macvlan mode MODE [bcqueuelen N]`
 */
export async function createMacvlan(rt: Rtnl, spec: MacvlanSpec): Promise<void> {
  const parentIndex = typeof spec.parent === 'number' ? spec.parent : typeof spec.parent === 'string' ? (await linkByName(rt, spec.parent))?.index : spec.parent.index
  if (parentIndex === undefined) throw new NetlinkError('create macvlan (parent not found)', ENODEV, linkLabel(spec.parent))
  await createLinkOfKind(rt, {
    name: spec.name,
    kind: 'macvlan',
    common: spec,
    parentIndex,
    infoData: Buffer.concat([
      macvlanInfoData({ mode: MacvlanMode[spec.mode ?? 'bridge'] }),
      ...(spec.bcQueueLen === undefined ? [] : [u32Attr(IFLA_MACVLAN_BC_QUEUE_LEN, spec.bcQueueLen)]),
    ]),
  })
}

/** macvlan settings read back from a link of kind "macvlan". */
export function macvlanInfoOf(link: Link): { mode: MacvlanMode | undefined } | undefined {
  if (link.kind !== 'macvlan' || link.infoData === undefined) return undefined
  const d = parseMacvlanInfoData(link.infoData)
  const mode = (Object.keys(MacvlanMode) as MacvlanMode[]).find((k) => MacvlanMode[k] === d.mode)
  return { mode }
}
