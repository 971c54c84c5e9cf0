// CHECK: lo exists and is up, and still holds the addresses a loopback-made result reported.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { listAddresses } from '../../pkg/link/addr.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { LO, withLoopback } from './lo.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  await withLoopback(a.netns, async (rt, lo) => {
    if (!lo.up) throw new CniError(CniCode.KernelFailure, `loopback interface in ${a.netns} is down`)
    const prev = a.conf.prevResult
    // Only a result that loopback itself made names lo; a chained prevResult belongs to other plugins.
    const loIndex = prev?.interfaces?.findIndex((i) => i.name === LO && i.sandbox === a.netns) ?? -1
    if (prev === undefined || loIndex < 0) return
    const have = new Set((await listAddresses(rt, { link: lo })).map((x) => x.cidr))
    for (const ip of prev.ips ?? []) {
      if (ip.interface === loIndex && !have.has(ip.address)) {
        throw new CniError(CniCode.KernelFailure, `loopback interface in ${a.netns} lacks address ${ip.address} from prevResult`)
      }
    }
  })
}
