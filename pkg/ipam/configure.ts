// An IPAM result applied to a container interface (the reference's ipam.ConfigureIface), for every plugin
// that puts a lease on a link it made or moved (bridge, host-device, macvlan): link up, IPv6 enabled when
// the result has IPv6 addresses, the addresses of this interface, then the routes, each through its
// family's gateway when it names none.
import type { CniIpConfig, CniResult } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { NetlinkError } from '../errors/sys-error.js'
import { parseCidr, type IpFamily } from '../ip/cidr.js'
import { addAddress, listAddresses } from '../link/addr.js'
import { IFA_F_DADFAILED, IFA_F_TENTATIVE } from '../link/constants.js'
import { setLinkUp, type Link } from '../link/link.js'
import { addRoute } from '../link/route.js'
import type { Rtnl } from '../link/rtnl.js'
import type { Log } from '../log/log.js'
import type { NetnsHandle } from '../ns/netns.js'
import { readSysctl, writeSysctl } from '../sysctl/sysctl.js'

const familyOf = (cidrOrIp: string): IpFamily => parseCidr(cidrOrIp).family

export interface ConfigureOptions {
  /** the interface's index in result.interfaces: only IPs with this `interface` are applied */
  index: number
  /** IPv6 duplicate address detection; off (IFA_F_NODAD, usable at once) unless set, on waits for it */
  enabledad?: boolean
  /** the link's namespace, where disable_ipv6 is cleared before an IPv6 address goes on */
  netns?: NetnsHandle
  log?: Log
}

/** The lease's IPs, all given to interface `index` (a plugin that reports one interface in the container). */
export function ipsFor(lease: CniResult, index: number): CniIpConfig[] {
  return (lease.ips ?? []).map((ip) => ({ ...ip, interface: index }))
}

/**
 * ConfigureIface: link up, the result's addresses for this interface, then its routes (a route without
 * gw goes through the family's gateway when there is one). With DAD on, waits until IPv6 addresses
 * leave the tentative state (CniError 101 when DAD finds a duplicate). CniError 103 for a route the
 * kernel refuses (one that exists already is fine).
 */
export async function configureIface(rt: Rtnl, link: Link, result: CniResult, opts: ConfigureOptions): Promise<void> {
  await setLinkUp(rt, link.index)
  const enabledad = opts.enabledad ?? false
  const mine: CniIpConfig[] = (result.ips ?? []).filter((ip) => ip.interface === opts.index)
  if (opts.netns !== undefined && mine.some((ip) => familyOf(ip.address) === 6)) enableIpv6(opts.netns, link.name, opts.log)
  const gw: Partial<Record<IpFamily, string>> = {}
  for (const ip of mine) {
    await addAddress(rt, link.index, ip.address, { noDad: !enabledad })
    const fam = familyOf(ip.address)
    if (ip.gateway !== undefined && gw[fam] === undefined) gw[fam] = ip.gateway
  }
  if (enabledad && mine.some((ip) => familyOf(ip.address) === 6)) await settleAddresses(rt, link, 10_000)
  for (const r of result.routes ?? []) {
    const fam = familyOf(r.dst)
    const via = r.gw ?? gw[fam]
    try {
      await addRoute(rt, {
        dst: r.dst,
        dev: link.index,
        ...(via === undefined ? {} : { gw: via }),
        ...(r.mtu ? { mtu: r.mtu } : {}),
        ...(r.advmss ? { advmss: r.advmss } : {}),
        ...(r.priority ? { metric: r.priority } : {}),
        ...(r.table ? { table: r.table } : {}),
        ...(r.scope !== undefined ? { scope: r.scope } : {}),
      })
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'EEXIST') continue
      throw new CniError(CniCode.KernelFailure, `failed to add route ${r.dst}${via ? ` via ${via}` : ''} on ${link.name}: ${describe(e)}`, undefined, { cause: e })
    }
  }
}

/**
 * disable_ipv6=0 for the link and lo, as the reference does: a namespace made with IPv6 disabled would
 * refuse the address. Best effort: the address add reports the real failure, if any.
 */
function enableIpv6(ns: NetnsHandle, ifName: string, log: Log | undefined): void {
  for (const dev of ['lo', ifName]) {
    const key = `net/ipv6/conf/${dev}/disable_ipv6`
    try {
      if (readSysctl(key, ns) !== '0') writeSysctl(key, '0', ns)
    } catch (e) {
      log?.info(`could not enable IPv6 on ${dev}: ${describe(e)}`)
    }
  }
}

async function settleAddresses(rt: Rtnl, link: Link, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const addrs = (await listAddresses(rt, { link: link.index, family: 6 })).filter((a) => a.scope !== 253)
    const failed = addrs.find((a) => (a.flags & IFA_F_DADFAILED) !== 0)
    if (failed) throw new CniError(CniCode.LinkConflict, `duplicate address detection failed for ${failed.cidr} on ${link.name}`)
    if (!addrs.some((a) => (a.flags & IFA_F_TENTATIVE) !== 0)) return
    if (Date.now() > end) throw new CniError(CniCode.KernelFailure, `IPv6 addresses on ${link.name} still tentative after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
