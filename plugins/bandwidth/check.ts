// CHECK: the configured shaping is in place: the host veth's root qdisc (rate, limit, buffer as ADD set
// them), and for egress the ifb, its root and the host veth's ingress redirect to it.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { linkByName } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBandwidthConfig } from './config.js'
import { requireHostVeth, requirePrev } from './host-veth.js'
import { checkRedirect, checkRoot, ifbName } from './shape.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseBandwidthConfig(a.conf)
  const prev = requirePrev(a.conf.prevResult)
  const ns = NetnsHandle.open(a.netns)
  if (cfg.limits === undefined) {
    ns.close()
    return
  }
  const { ingress, egress, subnets } = cfg.limits
  const rh = openRtnl()
  try {
    const host = await requireHostVeth(rh, ns, a.ifName, prev)
    if (ingress !== undefined) await checkRoot(rh, host, ingress, subnets, 'ingress shaping')
    if (egress !== undefined) {
      const name = ifbName(cfg.netConf.name, a.containerId)
      const ifb = await linkByName(rh, name)
      if (ifb?.kind !== 'ifb') throw new CniError(CniCode.KernelFailure, `egress shaping: the ifb ${name} of this attachment is missing`)
      await checkRoot(rh, ifb, egress, subnets, 'egress shaping')
      await checkRedirect(rh, host, ifb)
    }
  } finally {
    rh.close()
    ns.close()
  }
}
