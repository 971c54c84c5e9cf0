// The host end of the container's veth, found as the reference finds it: the peer of CNI_IFNAME in the
// container, which must be one of prevResult's host-side interfaces (the interface plugin made it).
import type { CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { linkByIndex, linkByName, type Link } from '../../pkg/link/link.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'

/** The host veth, or undefined when the container's interface has no veth peer in this namespace. */
export async function findHostVeth(rtHost: Rtnl, ns: NetnsHandle, ifName: string): Promise<Link | undefined> {
  const rc = openRtnl(ns)
  try {
    const cont = await linkByName(rc, ifName)
    if (cont?.kind !== 'veth' || cont.parentIndex === undefined) return undefined
    const host = await linkByIndex(rtHost, cont.parentIndex)
    // An index names the peer only in the peer's namespace: it must be a veth pointing back at ours.
    return host?.kind === 'veth' && host.parentIndex === cont.index ? host : undefined
  } finally {
    rc.close()
  }
}

/** findHostVeth for ADD and CHECK: the peer must exist and be listed in prevResult. */
export async function requireHostVeth(rtHost: Rtnl, ns: NetnsHandle, ifName: string, prev: CniResult): Promise<Link> {
  const host = await findHostVeth(rtHost, ns, ifName)
  if (host === undefined) {
    throw new CniError(CniCode.InvalidConfig, `container interface ${ifName} has no veth peer in this namespace: bandwidth shapes veth attachments (chain it after bridge or ptp)`)
  }
  const listed = (prev.interfaces ?? []).some((i) => (i.sandbox ?? '') === '' && i.name === host.name)
  if (!listed) throw new CniError(CniCode.InvalidConfig, `the veth peer ${host.name} of ${ifName} is not among prevResult's host interfaces`)
  return host
}

/** The chained plugin's prevResult, which ADD and CHECK need. */
export function requirePrev(prev: CniResult | undefined): CniResult {
  if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'required prevResult missing: bandwidth is a chained plugin (list it after an interface plugin)')
  return prev
}
