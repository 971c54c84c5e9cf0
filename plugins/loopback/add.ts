// ADD: bring lo up and report its addresses (or pass prevResult through, as the reference does).
import type { CniIpConfig, CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { listAddresses, type Address } from '../../pkg/link/addr.js'
import { setLinkUp } from '../../pkg/link/link.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { LO, withLoopback } from './lo.js'

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const addrs = await withLoopback(a.netns, async (rt, lo) => {
    await setLinkUp(rt, lo)
    return listAddresses(rt, { link: lo })
  })
  const v4 = addrs.filter((x) => x.family === 4)
  const v6 = addrs.filter((x) => x.family === 6)
  for (const x of addrs) {
    if (!isLoopback(x)) {
      throw new CniError(CniCode.InvalidConfig, `loopback interface in ${a.netns} has non-loopback address ${x.cidr}: remove it or use another plugin`)
    }
  }
  // A chained loopback passes the previous plugin's result through unchanged.
  if (a.conf.prevResult) return a.conf.prevResult
  const ips: CniIpConfig[] = []
  if (v4[0]) ips.push({ address: v4[0].cidr, interface: 0 })
  if (v6[0]) ips.push({ address: v6[0].cidr, interface: 0 })
  return {
    cniVersion: a.conf.cniVersion,
    interfaces: [{ name: LO, mac: '00:00:00:00:00:00', sandbox: a.netns }],
    ...(ips.length > 0 ? { ips } : {}),
  }
}

function isLoopback(x: Address): boolean {
  return x.family === 4 ? x.ip.startsWith('127.') : x.ip === '::1'
}
