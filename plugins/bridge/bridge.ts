// Host side of the bridge plugin: the bridge itself, its gateway addresses, forwarding sysctls.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { describe } from '../../pkg/errors/describe.js'
import { NetlinkError } from '../../pkg/errors/sys-error.js'
import { parseCidr, type IpFamily } from '../../pkg/ip/cidr.js'
import { addAddress, delAddress, listAddresses } from '../../pkg/link/addr.js'
import { ensureBridge } from '../../pkg/link/bridge.js'
import { addBridgeVlan, bridgeDefaultPvid, delBridgeVlanIfExists, vlanRuns } from '../../pkg/link/bridge-vlan.js'
import { delLinkIfExists, getLink, linkByName, listLinks, setLinkMac, setLinkPromisc, setLinkUp, type Link } from '../../pkg/link/link.js'
import type { Rtnl } from '../../pkg/link/rtnl.js'
import type { Log } from '../../pkg/log/log.js'
import { writeSysctl } from '../../pkg/sysctl/sysctl.js'
import type { BridgeConfig } from './config.js'

export interface BridgeSetup {
  link: Link
  /** this ADD created the bridge (so a failed ADD may remove it again) */
  created: boolean
}

/**
 * Creates the bridge or reuses it (the reference's ensureBridge): MTU on creation only (a shared bridge
 * keeps its MTU), promiscuous mode when
 * asked, accept_ra off (the plugin owns the bridge's routes), up. A link of that name that is not a
 * bridge is CniError 101.
 */
export async function setupBridge(rt: Rtnl, cfg: BridgeConfig, log: Log): Promise<BridgeSetup> {
  const existed = (await linkByName(rt, cfg.bridge)) !== undefined
  // VLANs need vlan_filtering on (turned on for an existing bridge too); without them the bridge is left as it is.
  const vlanFiltering = usesVlans(cfg)
  let link: Link
  try {
    link = await ensureBridge(rt, { name: cfg.bridge, ...(cfg.mtu === undefined ? {} : { mtu: cfg.mtu }), ...(vlanFiltering ? { vlanFiltering: true } : {}) })
  } catch (e) {
    if (vlanFiltering && e instanceof NetlinkError && e.code === 'EOPNOTSUPP') {
      throw new CniError(
        CniCode.KernelFailure,
        `failed to enable VLAN filtering on bridge "${cfg.bridge}": the kernel has no bridge VLAN filtering (EOPNOTSUPP); vlan and vlanTrunk need it`,
        undefined,
        { cause: e },
      )
    }
    if (e instanceof NetlinkError && e.code === 'EEXIST') {
      throw new CniError(CniCode.LinkConflict, `failed to create bridge "${cfg.bridge}": a link of that name exists and is not a bridge (${e.message})`, undefined, { cause: e })
    }
    throw new CniError(CniCode.KernelFailure, `failed to create bridge "${cfg.bridge}": ${describe(e)}`, undefined, { cause: e })
  }
  if (cfg.promiscMode && !link.promisc) await setLinkPromisc(rt, link, true)
  try {
    writeSysctl(`net/ipv6/conf/${cfg.bridge}/accept_ra`, '0')
  } catch (e) {
    log.debug(`accept_ra on ${cfg.bridge} not set (IPv6 off?): ${describe(e)}`)
  }
  if (!link.up) await setLinkUp(rt, link)
  return { link: await getLink(rt, link.index), created: !existed }
}

/** The configuration puts ports in VLANs (the reference turns vlan_filtering on for vlan or vlanTrunk). */
export function usesVlans(cfg: Pick<BridgeConfig, 'vlan' | 'vlanTrunk'>): boolean {
  return cfg.vlan !== 0 || cfg.vlanTrunk.length > 0
}

/**
 * VLAN membership of a container's host veth (the reference's setupVeth): without preserveDefaultVlan the
 * port leaves the bridge's default VLAN first; `vlan` makes it an access port (PVID, egress untagged);
 * `vlanTrunk` makes it a trunk (tagged), one request per run of consecutive ids.
 */
export async function setupPortVlans(rt: Rtnl, port: Link, bridge: Link, cfg: Pick<BridgeConfig, 'vlan' | 'vlanTrunk' | 'preserveDefaultVlan'>): Promise<void> {
  if (!usesVlans(cfg)) return
  if (!cfg.preserveDefaultVlan) {
    const def = bridgeDefaultPvid(bridge) ?? 1
    if (def !== 0) await delBridgeVlanIfExists(rt, port.index, { vid: def })
  }
  if (cfg.vlan !== 0) await addBridgeVlan(rt, port.index, { vid: cfg.vlan, pvid: true, untagged: true })
  for (const [from, to] of vlanRuns(cfg.vlanTrunk)) await addBridgeVlan(rt, port.index, { vid: from, to })
}

/** Deletes a bridge this ADD created, unless another attachment joined it meanwhile. */
export async function removeBridgeIfUnused(rt: Rtnl, bridge: Link): Promise<void> {
  const ports = (await listLinks(rt)).filter((l) => l.masterIndex === bridge.index)
  if (ports.length > 0) return
  await delLinkIfExists(rt, bridge.index)
}

/**
 * Puts gateway address `gw` (address/prefix) on the bridge, as the reference's ensureAddr: an identical
 * address is kept; another IPv4 address, or an overlapping IPv6 one, is replaced when forceAddress is set
 * and is CniError 101 otherwise. The bridge's MAC is then pinned to itself, so it no longer follows the
 * lowest port MAC.
 */
export async function ensureGatewayAddress(rt: Rtnl, bridge: Link, gw: string, forceAddress: boolean): Promise<void> {
  const want = parseCidr(gw)
  for (const a of await listAddresses(rt, { link: bridge.index, family: want.family })) {
    if (a.cidr === gw) return
    if (a.scope === 253 && want.family === 6) continue // fe80::/64 link-local
    if (want.family === 4 || overlaps(a.cidr, gw)) {
      if (!forceAddress) {
        throw new CniError(CniCode.LinkConflict, `bridge "${bridge.name}" already has an IP address different from ${gw} (${a.cidr}); set forceAddress to replace it`)
      }
      await delAddress(rt, bridge.index, a.cidr)
    }
  }
  try {
    // No DAD for the gateway: the plugin owns the subnet, and containers must reach it as soon as ADD returns.
    await addAddress(rt, bridge.index, gw, { noDad: want.family === 6 })
  } catch (e) {
    if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e
  }
  if (bridge.mac !== undefined) await setLinkMac(rt, bridge.index, bridge.mac)
}

/** net.ipv4.ip_forward / net.ipv6.conf.all.forwarding in the host namespace. */
export function enableForwarding(family: IpFamily): void {
  if (family === 4) writeSysctl('net.ipv4.ip_forward', '1')
  else writeSysctl('net/ipv6/conf/all/forwarding', '1')
}

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a)
  const y = parseCidr(b)
  return contains(x.bytes, x.prefixLen, y.bytes) || contains(y.bytes, y.prefixLen, x.bytes)
}

function contains(net: Uint8Array, prefixLen: number, ip: Uint8Array): boolean {
  if (net.length !== ip.length) return false
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - i * 8))
    const mask = (0xff << (8 - keep)) & 0xff
    if (((net[i] ?? 0) & mask) !== ((ip[i] ?? 0) & mask)) return false
  }
  return true
}
