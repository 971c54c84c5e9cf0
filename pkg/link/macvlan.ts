// macvlan links on a parent device.
import { NetlinkError } from '../errors/sys-error.js'
import { constants as osConstants } from 'node:os'
import { MacvlanMode } from './constants.js'
import { linkByName, linkLabel, type Link, type LinkRef } from './link.js'
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import { macvlanInfoData, parseMacvlanInfoData, type Rtnl } from './rtnl.js'

const { ENODEV } = osConstants.errno

export interface MacvlanSpec extends CommonLinkOptions {
  readonly name: string
  /** The parent (lower) device, in the handle's namespace. */
  readonly parent: LinkRef
  /** Default "bridge". */
  readonly mode?: MacvlanMode
}

/**
 * Creates a macvlan on `parent`, optionally directly inside `netns`; EEXIST if the name is taken there.
 * `ip link add NAME link PARENT [netns NS] [mtu M] type macvlan mode MODE`
 */
export async function createMacvlan(rt: Rtnl, spec: MacvlanSpec): Promise<void> {
  const parentIndex = typeof spec.parent === 'number' ? spec.parent : typeof spec.parent === 'string' ? (await linkByName(rt, spec.parent))?.index : spec.parent.index
  if (parentIndex === undefined) throw new NetlinkError('create macvlan (parent not found)', ENODEV, linkLabel(spec.parent))
  await createLinkOfKind(rt, {
    name: spec.name,
    kind: 'macvlan',
    common: spec,
    parentIndex,
    infoData: macvlanInfoData({ mode: MacvlanMode[spec.mode ?? 'bridge'] }),
  })
}

/** macvlan settings read back from a link of kind "macvlan". */
export function macvlanInfoOf(link: Link): { mode: MacvlanMode | undefined } | undefined {
  if (link.kind !== 'macvlan' || link.infoData === undefined) return undefined
  const d = parseMacvlanInfoData(link.infoData)
  const mode = (Object.keys(MacvlanMode) as MacvlanMode[]).find((k) => MacvlanMode[k] === d.mode)
  return { mode }
}
