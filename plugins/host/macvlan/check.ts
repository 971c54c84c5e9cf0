// CHECK, in the reference's order: the master is there; the IPAM plugin's own CHECK; prevResult's interface
// is in its sandbox under CNI_IFNAME, a macvlan of the configured mode on that master, with the MAC
// prevResult reports; the addresses and routes of prevResult are in the container.
import type { CniInterface } from '../../../pkg/cni/result.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { delegateCheck } from '../../../pkg/invoke/delegate.js'
import { checkIfaceAddresses, checkRoutes } from '../../../pkg/ipam/check.js'
import { ipamTarget } from '../../../pkg/ipam/target.js'
import { linkByName, type Link } from '../../../pkg/link/link.js'
import { macvlanInfoOf } from '../../../pkg/link/macvlan.js'
import { openRtnl, type Rtnl } from '../../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { parseMacvlanConfig, type MacvlanConfig } from './config.js'
import { findMaster, masterPlace } from './master.js'

const mismatch = (msg: string) => new CniError(CniCode.KernelFailure, `macvlan CHECK: ${msg}`)

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseMacvlanConfig(a.conf, a.args)
  const cont = NetnsHandle.open(a.netns)
  let rtCont: Rtnl | undefined
  let rtHost: Rtnl | undefined
  try {
    // The configuration first (a missing master is the reference's loadConf error), then IPAM's part.
    rtCont = openRtnl(cont)
    const rm = cfg.linkInContainer ? rtCont : (rtHost = openRtnl())
    const master = await findMaster(rm, cfg, masterPlace(cfg, a.netns))
    if (cfg.layer3) await delegateCheck(ipamTarget(a))
    const prev = a.conf.prevResult
    if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'invalid network configuration: prevResult: required for CHECK')
    const idx = (prev.interfaces ?? []).findIndex((i) => i.name === a.ifName && i.sandbox === a.netns)
    const want = prev.interfaces?.[idx]
    if (want === undefined) throw new CniError(CniCode.InvalidConfig, `invalid network configuration: prevResult: no interface "${a.ifName}" with sandbox ${a.netns}`)
    const link = await checkLink(rtCont, want, cfg, master, a.netns)
    await checkIfaceAddresses(rtCont, link, prev, idx)
    await checkRoutes(rtCont, prev, a.netns)
  } finally {
    rtCont?.close()
    rtHost?.close()
    cont.close()
  }
}

async function checkLink(rt: Rtnl, want: CniInterface, cfg: MacvlanConfig, master: Link, netns: string): Promise<Link> {
  const link = await linkByName(rt, want.name)
  if (link === undefined) throw mismatch(`interface ${want.name} not found in ${netns}`)
  const info = macvlanInfoOf(link)
  if (info === undefined) throw mismatch(`interface ${want.name} is a ${link.kind ?? 'device'}, not a macvlan`)
  if (info.mode !== cfg.mode) throw mismatch(`macvlan ${want.name} is in ${info.mode ?? 'an unknown'} mode, configured ${cfg.mode}`)
  // IFLA_LINK is the master's ifindex in the master's namespace (the host's, or this one).
  if (link.parentIndex !== master.index) throw mismatch(`macvlan ${want.name} is not on master ${master.name}`)
  if (want.mac !== undefined && want.mac !== '' && want.mac.toLowerCase() !== link.mac) {
    throw mismatch(`interface ${want.name} has MAC ${link.mac ?? 'none'}, prevResult says ${want.mac}`)
  }
  return link
}
