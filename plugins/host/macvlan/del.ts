// DEL: best effort and idempotent. Deletes the macvlan in the container's namespace, then releases the
// IPAM lease (last, so the address cannot go to another container while this link still holds it). A
// namespace that is gone (or CNI_NETNS empty) took the link with it; a link that is gone is fine. Only the
// keys DEL needs are read: a runtime cleaning up after a refused ADD (a bad mode, a missing master) must
// still get its lease back.
import { ErrorList } from '../../../pkg/errors/error-list.js'
import { delegateDel } from '../../../pkg/invoke/delegate.js'
import { hasIpam, ipamTarget } from '../../../pkg/ipam/target.js'
import { delLinkIfExists, linkByName } from '../../../pkg/link/link.js'
import { openRtnl } from '../../../pkg/link/rtnl.js'
import { createLog } from '../../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../../pkg/ns/netns.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'

const log = createLog('macvlan')

export async function cmdDel(a: CmdArgs): Promise<void> {
  const errors = new ErrorList()
  if (a.netns !== '') await errors.attempt(`delete ${a.ifName} in ${a.netns}`, () => deleteLink(a.netns, a.ifName))
  if (hasIpam(a)) await errors.attempt(`release IPAM (${a.conf.ipam?.type ?? ''})`, () => delegateDel(ipamTarget(a)))
  errors.throwIfAny(`failed to delete ${a.ifName} of container ${a.containerId}`)
}

async function deleteLink(netns: string, ifName: string): Promise<void> {
  let cont: NetnsHandle
  try {
    cont = NetnsHandle.open(netns)
  } catch (e) {
    if (e instanceof NetnsNotFoundError) {
      log.info(`DEL: namespace ${netns} is gone (${e.errnoCode}), and its macvlan with it`)
      return
    }
    throw e
  }
  const rt = openRtnl(cont)
  try {
    const link = await linkByName(rt, ifName)
    if (link === undefined) return
    // Someone else's interface under this name (another plugin's, after a failed ADD of ours) stays.
    if (link.kind !== 'macvlan') {
      log.warn(`DEL: ${ifName} in ${netns} is a ${link.kind ?? 'device'}, not a macvlan: left alone`)
      return
    }
    await delLinkIfExists(rt, link.index)
  } finally {
    rt.close()
    cont.close()
  }
}
