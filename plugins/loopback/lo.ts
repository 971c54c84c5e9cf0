// Shared by the loopback verbs: open the container's namespace and its `lo`.
// The reference plugin ignores CNI_IFNAME and always acts on "lo"; so do we.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { linkByName, type Link } from '../../pkg/link/link.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'

export const LO = 'lo'

/** Runs fn with a netlink handle inside `netnsPath` and its loopback link; closes everything after. */
export async function withLoopback<T>(netnsPath: string, fn: (rt: Rtnl, lo: Link) => Promise<T>): Promise<T> {
  const ns = NetnsHandle.open(netnsPath)
  let rt: Rtnl | undefined
  try {
    rt = openRtnl(ns)
    const lo = await linkByName(rt, LO)
    if (lo === undefined) throw new CniError(CniCode.KernelFailure, `no loopback device "lo" in ${netnsPath}`)
    return await fn(rt, lo)
  } finally {
    rt?.close()
    ns.close()
  }
}
