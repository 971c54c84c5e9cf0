// ADD: the macvlan on the master, made directly in the container's namespace as CNI_IFNAME (or made there
// on a master that is there, with linkInContainer), then IPAM, addresses and routes. Everything is checked
// before the link exists; after that every step registers its undo, so an ADD that fails (IPAM refuses, the
// kernel refuses an address or route) deletes the link and releases the lease. The reference leaves the
// link behind in that case (a shadowed err in its deferred clean-up).
import type { CniResult } from '../../../pkg/cni/result.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { describe } from '../../../pkg/errors/describe.js'
import { NetlinkError } from '../../../pkg/errors/sys-error.js'
import { delegateAdd, delegateDel } from '../../../pkg/invoke/delegate.js'
import { configureIface, ipsFor } from '../../../pkg/ipam/configure.js'
import { ipamTarget } from '../../../pkg/ipam/target.js'
import { delLinkIfExists, getLink, linkByName, setLinkUp } from '../../../pkg/link/link.js'
import { createMacvlan } from '../../../pkg/link/macvlan.js'
import { openRtnl, type Rtnl } from '../../../pkg/link/rtnl.js'
import { createLog } from '../../../pkg/log/log.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import { Rollback } from '../../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { writeSysctl } from '../../../pkg/sysctl/sysctl.js'
import { parseMacvlanConfig } from './config.js'
import { findMaster, masterPlace } from './master.js'

const log = createLog('macvlan')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseMacvlanConfig(a.conf, a.args)
  const cont = NetnsHandle.open(a.netns)
  let rtCont: Rtnl | undefined
  let rtHost: Rtnl | undefined
  const rb = new Rollback()
  try {
    rtCont = openRtnl(cont)
    const rc = rtCont
    // The master's namespace: the host's (this thread's), or the container's with linkInContainer.
    const rm = cfg.linkInContainer ? rc : (rtHost = openRtnl())
    const master = await findMaster(rm, cfg, masterPlace(cfg, a.netns))
    if ((await linkByName(rc, a.ifName)) !== undefined) {
      throw new CniError(CniCode.LinkConflict, `container interface "${a.ifName}" already exists in ${a.netns}`)
    }

    // 1. The link, made in the container under its final name: the kernel checks the name there, not in
    // the master's namespace (the reference's temporary name worked around kernels that did not).
    try {
      await createMacvlan(rm, {
        name: a.ifName,
        parent: master.index,
        mode: cfg.mode,
        ...(cfg.mtu !== undefined ? { mtu: cfg.mtu } : {}),
        ...(cfg.mac !== undefined ? { mac: cfg.mac } : {}),
        ...(cfg.bcQueueLen !== undefined ? { bcQueueLen: cfg.bcQueueLen } : {}),
        ...(cfg.linkInContainer ? {} : { netns: cont }),
      })
    } catch (e) {
      throw createFailure(e, a.ifName, master.name, cfg.mode)
    }
    const link = await getLink(rc, a.ifName)
    rb.defer(`delete macvlan ${a.ifName}`, () => delLinkIfExists(rc, link.index))

    const result: CniResult = { cniVersion: a.conf.cniVersion }
    if (cfg.layer3) {
      // 2. IPAM, then its lease on the link (the reference's sysctls first: announce the addresses).
      const ipam = ipamTarget(a)
      const lease = await delegateAdd(ipam)
      rb.defer(`release IPAM (${ipam.type})`, () => delegateDel(ipam))
      const ips = ipsFor(lease, 0)
      if (ips.length === 0) throw new CniError(CniCode.DecodingFailure, `IPAM plugin ${ipam.type} returned no IP configuration`)
      result.ips = ips
      if (lease.routes !== undefined && lease.routes.length > 0) result.routes = lease.routes.map((r) => ({ ...r }))
      announceSysctls(cont, a.ifName)
      await configureIface(rc, link, result, { index: 0, netns: cont, log })
    } else {
      // Layer 2 only: the interface comes up, addresses are the container's business.
      await setLinkUp(rc, link.index)
    }
    // Read back: the MAC the kernel gave it (or the one asked for).
    const now = await getLink(rc, link.index)
    result.interfaces = [{ name: now.name, ...(now.mac !== undefined ? { mac: now.mac } : {}), sandbox: a.netns }]
    // The reference reports the configuration's DNS, not the IPAM plugin's.
    if (a.conf.dns !== undefined) result.dns = a.conf.dns
    rb.commit()
    return result
  } finally {
    await rb.settle(log)
    rtCont?.close()
    rtHost?.close()
    cont.close()
  }
}

/** What the kernel's refusal means for the runtime: a name clash (101), a bad MAC or mode for this master (7), or 103. */
function createFailure(e: unknown, ifName: string, master: string, mode: string): CniError {
  const code = e instanceof NetlinkError ? e.code : undefined
  if (code === 'EEXIST') return new CniError(CniCode.LinkConflict, `container interface "${ifName}" already exists`, undefined, { cause: e })
  if (code === 'EADDRNOTAVAIL') return new CniError(CniCode.InvalidConfig, `invalid network configuration: mac: the kernel refused it for a macvlan on ${master}`, undefined, { cause: e })
  const hint = mode === 'passthru' ? ' (passthru allows one macvlan per master, and none beside other modes)' : ''
  return new CniError(CniCode.KernelFailure, `failed to create macvlan ${ifName} on ${master} in ${mode} mode${hint}: ${describe(e)}`, undefined, { cause: e })
}

/** arp_notify and ndisc_notify, as the reference sets them: neighbours learn the new MAC at once. Best effort. */
function announceSysctls(cont: NetnsHandle, ifName: string): void {
  for (const key of [`net/ipv4/conf/${ifName}/arp_notify`, `net/ipv6/conf/${ifName}/ndisc_notify`]) {
    try {
      writeSysctl(key, '1', cont)
    } catch (e) {
      log.debug(`sysctl ${key}=1 in ${cont.path} not set: ${describe(e)}`)
    }
  }
}
