// LinkRef → ifindex, for messages that carry only an index (ifaddrmsg, rtmsg, ndmsg, AF_BRIDGE setlink).
import { getLink, type LinkRef } from './link.js'
import type { Rtnl } from './rtnl.js'

/** The ifindex of `ref`; a name is looked up (NetlinkError "get link" ENODEV when missing). */
export async function indexOf(rt: Rtnl, ref: LinkRef): Promise<number> {
  if (typeof ref === 'number') return ref
  if (typeof ref === 'string') return (await getLink(rt, ref)).index
  return ref.index
}
