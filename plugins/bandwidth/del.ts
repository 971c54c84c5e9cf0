// DEL: delete the attachment's ifb (by the reference's name, so either suite cleans up after the other) and
// the qdiscs ADD put on the host veth when the container's interface can still be reached. Idempotent: a
// namespace, interface or ifb that is gone means there is nothing left of it.
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delLinkIfExists, linkByName } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { delQdiscIfExists, listQdiscs, TC_H_INGRESS, TC_H_ROOT } from '../../pkg/link/tc.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBandwidthConfig } from './config.js'
import { findHostVeth } from './host-veth.js'
import { ifbName } from './shape.js'

const log = createLog('bandwidth')
/** Root qdiscs this plugin puts on a host veth. */
const OURS = new Set(['tbf', 'htb'])

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseBandwidthConfig(a.conf, { strict: false })
  const rh = openRtnl()
  const errors = new ErrorList()
  try {
    const name = ifbName(cfg.netConf.name, a.containerId)
    const ifb = await linkByName(rh, name)
    if (ifb?.kind === 'ifb') await errors.attempt(`delete ${name}`, () => delLinkIfExists(rh, ifb.index))
    const ns = a.netns === '' ? undefined : openIfExists(a.netns)
    if (ns !== undefined) {
      try {
        const host = await findHostVeth(rh, ns, a.ifName)
        if (host !== undefined) {
          const qdiscs = await listQdiscs(rh, host.index)
          if (qdiscs.some((q) => q.parent === TC_H_ROOT && OURS.has(q.kind))) {
            await errors.attempt(`remove the root qdisc of ${host.name}`, () => delQdiscIfExists(rh, host.index, TC_H_ROOT, host.name))
          }
          if (qdiscs.some((q) => q.kind === 'ingress')) {
            await errors.attempt(`remove the ingress qdisc of ${host.name}`, () => delQdiscIfExists(rh, host.index, TC_H_INGRESS, host.name))
          }
        }
      } finally {
        ns.close()
      }
    }
  } finally {
    rh.close()
  }
  errors.throwIfAny(`DEL of container ${a.containerId} failed`)
}

function openIfExists(path: string): NetnsHandle | undefined {
  try {
    return NetnsHandle.open(path)
  } catch (e) {
    if (!(e instanceof NetnsNotFoundError)) throw e
    log.info(`DEL: namespace ${path} is gone (${e.errnoCode}): its veth and qdiscs went with it`)
    return undefined
  }
}
