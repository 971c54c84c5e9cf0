// CHECK: the device is in the container under CNI_IFNAME with the MAC, addresses and routes that the
// previous result reports (the reference's checks), after the IPAM plugin's own CHECK.
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { delegateCheck } from '../../../pkg/invoke/delegate.js'
import { checkIfaceAddresses, checkRoutes } from '../../../pkg/ipam/check.js'
import { ipamTarget } from '../../../pkg/ipam/target.js'
import { linkByName } from '../../../pkg/link/link.js'
import { openRtnl } from '../../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { parseHostDeviceConfig } from './config.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const ns = NetnsHandle.open(a.netns)
  try {
    const cfg = parseHostDeviceConfig(a.conf, { env: a.env })
    if (cfg.ipam) await delegateCheck(ipamTarget(a))
    const prev = a.conf.prevResult
    if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'host-device CHECK: required prevResult missing')
    const ifIdx = (prev.interfaces ?? []).findIndex((i) => i.name === a.ifName && i.sandbox === a.netns)
    const iface = prev.interfaces?.[ifIdx]
    // A DPDK device has no interface in the result; there is nothing in the namespace to check.
    if (iface === undefined) {
      if ((prev.interfaces ?? []).length === 0) return
      throw new CniError(CniCode.InvalidConfig, `host-device CHECK: prevResult has no interface ${a.ifName} in sandbox ${a.netns}`)
    }
    const fail = (msg: string) => new CniError(CniCode.KernelFailure, `host-device CHECK: ${msg}`)
    const rt = openRtnl(ns)
    try {
      const link = await linkByName(rt, a.ifName)
      if (link === undefined) throw fail(`interface ${a.ifName} not found in ${a.netns}`)
      if (iface.mac !== undefined && iface.mac !== '' && link.mac !== iface.mac.toLowerCase()) {
        throw fail(`interface ${a.ifName} has MAC ${link.mac ?? 'none'}, prevResult says ${iface.mac}`)
      }
      await checkIfaceAddresses(rt, link, prev, ifIdx)
      await checkRoutes(rt, prev, a.netns)
    } finally {
      rt.close()
    }
  } finally {
    ns.close()
  }
}
