// Applying an IPAM result to the moved device inside the container (cni's ipam.ConfigureIface):
// addresses, then routes, each route through the result's gateway of its family when it names none.
import type { CniIpConfig, CniResult, CniRoute } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { addAddress } from '../../pkg/link/addr.js'
import { addRoute } from '../../pkg/link/route.js'
import type { Rtnl } from '../../pkg/link/rtnl.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { writeSysctl } from '../../pkg/sysctl/sysctl.js'
import type { Log } from '../../pkg/log/log.js'

const isV6 = (addr: string) => addr.includes(':')

/** The result's IPs, all pointing at interface 0 (the one device this plugin reports). */
export function ipsForDevice(r: CniResult): CniIpConfig[] {
  return (r.ips ?? []).map((ip) => ({ ...ip, interface: 0 }))
}

export async function configureDevice(rt: Rtnl, ns: NetnsHandle, ifIndex: number, ifName: string, ips: CniIpConfig[], routes: CniRoute[], log: Log): Promise<void> {
  if (ips.length === 0) throw new CniError(CniCode.InvalidConfig, 'IPAM plugin returned missing IP config')
  if (ips.some((ip) => isV6(ip.address))) {
    try {
      writeSysctl(`net.ipv6.conf.${ifName}.disable_ipv6`, '0', ns)
    } catch (e) {
      log.info(`could not enable IPv6 on ${ifName}: ${String(e)}`)
    }
  }
  for (const ip of ips) await addAddress(rt, ifIndex, ip.address, { noDad: isV6(ip.address) })
  const gw4 = ips.find((ip) => !isV6(ip.address) && ip.gateway !== undefined)?.gateway
  const gw6 = ips.find((ip) => isV6(ip.address) && ip.gateway !== undefined)?.gateway
  for (const r of routes) {
    const gw = r.gw ?? (isV6(r.dst) ? gw6 : gw4)
    await addRoute(rt, {
      dst: r.dst,
      dev: ifIndex,
      ...(gw !== undefined ? { gw } : {}),
      ...(r.priority !== undefined ? { metric: r.priority } : {}),
      ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
      ...(r.advmss !== undefined ? { advmss: r.advmss } : {}),
      ...(r.table !== undefined ? { table: r.table } : {}),
      ...(r.scope !== undefined ? { scope: r.scope } : {}),
    })
  }
}
