// GC (spec 1.1.0): delete this network's ifbs whose attachment is not among the valid ones. berth's ifbs
// carry their owner in their alias (network tag, container, interface); ifbs without one (the reference's)
// cannot be told apart by network and are left alone.
import { validAttachments } from '../../pkg/cni/schema.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delLinkIfExists, listLinks } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { commentOfNetwork, ownerTag, ownerTagOf } from '../../pkg/owner/owner.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBandwidthConfig } from './config.js'
import { IFB_OWNER_SALT } from './shape.js'

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parseBandwidthConfig(a.conf, { strict: false })
  const valid = validAttachments(cfg.netConf)
  if (valid === undefined) return
  const network = cfg.netConf.name
  const keep = new Set(valid.map((v) => ownerTag(network, v.containerID, v.ifname)))
  const rh = openRtnl()
  const errors = new ErrorList()
  try {
    for (const l of await listLinks(rh)) {
      if (l.kind !== 'ifb' || !commentOfNetwork(l.alias, network, IFB_OWNER_SALT) || keep.has(ownerTagOf(l.alias))) continue
      await errors.attempt(`delete ${l.name}`, () => delLinkIfExists(rh, l.index))
    }
  } finally {
    rh.close()
  }
  errors.throwIfAny(`GC of network ${network} failed`)
}
