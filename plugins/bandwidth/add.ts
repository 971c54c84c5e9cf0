// ADD: shape traffic to the container at the host veth's root and traffic from it through an ifb, as
// configured; with no limits the result passes through. Anything made before a failure is removed.
import type { CniResult } from '../../pkg/cni/result.js'
import { createIfb } from '../../pkg/link/ifb.js'
import { delLinkIfExists, getLink, linkByName, setLinkAlias, setLinkUp } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { delQdiscIfExists, TC_H_INGRESS, TC_H_ROOT } from '../../pkg/link/tc.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { ownerOf } from '../../pkg/owner/owner.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBandwidthConfig } from './config.js'
import { requireHostVeth, requirePrev } from './host-veth.js'
import { IFB_OWNER_SALT, ifbName, redirectIngress, shapeRoot } from './shape.js'

const log = createLog('bandwidth')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseBandwidthConfig(a.conf)
  const prev = a.conf.prevResult
  // Opened even when there is nothing to shape: a CNI_NETNS that leads nowhere is bad input either way.
  const ns = NetnsHandle.open(a.netns)
  if (cfg.limits === undefined) {
    ns.close()
    return prev === undefined ? { cniVersion: a.conf.cniVersion } : structuredClone(prev)
  }
  const result: CniResult = structuredClone(requirePrev(prev))
  const { ingress, egress, subnets } = cfg.limits
  const rh = openRtnl()
  const rb = new Rollback()
  try {
    const host = await requireHostVeth(rh, ns, a.ifName, result)
    if (ingress !== undefined) {
      await shapeRoot(rh, host, ingress, subnets, 'to-container')
      rb.defer(`remove the root qdisc of ${host.name}`, () => delQdiscIfExists(rh, host.index, TC_H_ROOT, host.name))
    }
    if (egress !== undefined) {
      const name = ifbName(cfg.netConf.name, a.containerId)
      const owner = ownerOf(cfg.netConf.name, a.containerId, a.ifName, { netTagSalt: IFB_OWNER_SALT })
      // Left by an ADD of this attachment that died half-way (the name is the attachment's): start again.
      const stale = await linkByName(rh, name)
      if (stale?.kind === 'ifb' && stale.alias === owner.comment) await delLinkIfExists(rh, stale.index)
      await createIfb(rh, { name, mtu: host.mtu })
      rb.defer(`delete ${name}`, () => delLinkIfExists(rh, name))
      await setLinkAlias(rh, name, owner.comment)
      await setLinkUp(rh, name)
      const ifb = await getLink(rh, name)
      await shapeRoot(rh, ifb, egress, subnets, 'from-container')
      await redirectIngress(rh, host, ifb)
      rb.defer(`remove the ingress qdisc of ${host.name}`, () => delQdiscIfExists(rh, host.index, TC_H_INGRESS, host.name))
      result.interfaces = [...(result.interfaces ?? []), { name, ...(ifb.mac === undefined ? {} : { mac: ifb.mac }) }]
    }
    rb.commit()
    return result
  } finally {
    await rb.settle(log)
    rh.close()
    ns.close()
  }
}
