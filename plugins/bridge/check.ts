// CHECK: the attachment prevResult describes is still there: the bridge (kind, MAC, promiscuous mode),
// the container's veth (in its sandbox, MAC), the host veth (peer of the container's, port of the bridge,
// MAC), the addresses on the container interface and the routes in the container; with `macspoofchk` the
// port's spoof-check elements, with `ipMasq` every prevResult address's NAT (map element or iptables rules
// carrying the owner's tag, and the fixed chains they hang from). IPAM checks its part.
import type { CniInterface } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { delegateCheck } from '../../pkg/invoke/delegate.js'
import { checkIfaceAddresses, checkRoutes } from '../../pkg/ipam/check.js'
import { ipamTarget } from '../../pkg/ipam/target.js'
import { linkByName, type Link } from '../../pkg/link/link.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBridgeConfig } from './config.js'
import { attachmentLabel, checkMasquerade, masqOwner } from './masq.js'
import { checkIptMasquerade } from './masq-iptables.js'
import { checkSpoofCheck } from './spoofchk.js'

const mismatch = (msg: string) => new CniError(CniCode.KernelFailure, msg)

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args)
  const cont = NetnsHandle.open(a.netns)
  let rtCont: Rtnl | undefined
  let rtHost: Rtnl | undefined
  try {
    if (cfg.layer3) await delegateCheck(ipamTarget(a))
    const prev = cfg.netConf.prevResult
    if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'invalid network configuration: prevResult: required for CHECK')
    rtCont = openRtnl(cont)
    rtHost = openRtnl()
    const ifaces = prev.interfaces ?? []
    const brIdx = ifaces.findIndex((i) => i.name === cfg.bridge && (i.sandbox ?? '') === '')
    const contIdx = ifaces.findIndex((i) => i.name === a.ifName && i.sandbox === a.netns)
    if (brIdx < 0) throw mismatch(`prevResult has no interface for bridge "${cfg.bridge}"`)
    if (contIdx < 0) throw mismatch(`prevResult has no interface "${a.ifName}" with sandbox ${a.netns}`)

    const br = await checkBridge(rtHost, ifaces[brIdx] as CniInterface, cfg.promiscMode)
    const contLink = await checkContainer(rtCont, ifaces[contIdx] as CniInterface, a.netns)
    const hostVeth = await checkHostVeth(rtHost, ifaces, new Set([brIdx, contIdx]), br, contLink, cfg.bridge)
    await checkIfaceAddresses(rtCont, contLink, prev, contIdx)
    await checkRoutes(rtCont, prev, a.netns)

    const owner = masqOwner(cfg.netConf.name, a.containerId, a.ifName)
    const who = attachmentLabel(a.containerId, a.ifName)
    if (cfg.macspoofchk) {
      if (contLink.mac === undefined) throw mismatch(`container interface ${a.ifName} has no MAC address`)
      const missing = checkSpoofCheck(undefined, owner, hostVeth.name, contLink.mac, who)
      if (missing !== undefined) throw mismatch(missing)
    }
    // ADD masquerades every address of the result (and only with IPAM).
    if (cfg.ipMasq && cfg.layer3) {
      const cidrs = (prev.ips ?? []).map((ip) => ip.address)
      const missing = cfg.ipMasqBackend === 'iptables' ? await checkIptMasquerade(undefined, owner, cidrs, who) : checkMasquerade(undefined, owner, cidrs, who)
      if (missing !== undefined) throw mismatch(missing)
    }
  } finally {
    rtCont?.close()
    rtHost?.close()
    cont.close()
  }
}

async function checkBridge(rt: Rtnl, want: CniInterface, promisc: boolean): Promise<Link> {
  const br = await linkByName(rt, want.name)
  if (br === undefined) throw mismatch(`bridge ${want.name} not found in the host namespace`)
  if (br.kind !== 'bridge') throw mismatch(`interface ${want.name} is a ${br.kind ?? 'device'}, not a bridge`)
  if (want.mac !== undefined && want.mac !== br.mac) throw mismatch(`bridge ${want.name} has MAC ${br.mac ?? 'none'}, prevResult says ${want.mac}`)
  if (br.promisc !== promisc) throw mismatch(`bridge ${want.name} promiscuous mode is ${br.promisc ? 'on' : 'off'}, configured ${promisc ? 'on' : 'off'}`)
  return br
}

async function checkContainer(rt: Rtnl, want: CniInterface, netns: string): Promise<Link> {
  const link = await linkByName(rt, want.name)
  if (link === undefined) throw mismatch(`interface ${want.name} not found in ${netns}`)
  if (link.kind !== 'veth') throw mismatch(`container interface ${want.name} is a ${link.kind ?? 'device'}, not a veth`)
  if (want.mac !== undefined && want.mac !== link.mac) throw mismatch(`container interface ${want.name} has MAC ${link.mac ?? 'none'}, prevResult says ${want.mac}`)
  return link
}

/** Some interface of prevResult, other than the bridge and the container's, is the container veth's peer on the bridge. */
async function checkHostVeth(rt: Rtnl, ifaces: readonly CniInterface[], skip: Set<number>, br: Link, cont: Link, bridge: string): Promise<Link> {
  for (const [i, want] of ifaces.entries()) {
    if (skip.has(i) || (want.sandbox ?? '') !== '') continue
    const link = await linkByName(rt, want.name)
    if (link === undefined || link.kind !== 'veth') continue
    if (link.index !== cont.parentIndex || link.parentIndex !== cont.index) continue
    if (link.masterIndex !== br.index) throw mismatch(`host veth ${link.name} is not a port of bridge ${bridge}`)
    if (want.mac !== undefined && want.mac !== link.mac) throw mismatch(`host veth ${link.name} has MAC ${link.mac ?? 'none'}, prevResult says ${want.mac}`)
    return link
  }
  throw mismatch(`the host veth of ${cont.name} on bridge ${bridge} was not found`)
}
