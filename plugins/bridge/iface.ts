// Container side of the bridge plugin: the veth pair (the reference's ip.SetupVeth), its owner tag, and the
// gateways the IPAM result implies; pkg/ipam applies the result to the container end.
import { randomBytes } from 'node:crypto'
import type { CniResult, CniRoute } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { describe } from '../../pkg/errors/describe.js'
import { NetlinkError } from '../../pkg/errors/sys-error.js'
import { formatIp, networkOf, parseCidr, type IpFamily } from '../../pkg/ip/cidr.js'
import { delLinkIfExists, getLink, linkByName, listLinks, setLinkAlias, type Link } from '../../pkg/link/link.js'
import type { Rtnl } from '../../pkg/link/rtnl.js'
import { createVethPair } from '../../pkg/link/veth.js'
import type { Log } from '../../pkg/log/log.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { writeSysctl } from '../../pkg/sysctl/sysctl.js'
import type { MasqOwner } from './masq.js'

export interface VethPair {
  container: Link
  host: Link
}

const VETH_NAME_TRIES = 10

/** "veth" + 8 random hex digits: NetworkManager ignores veth*, and the name fits IFNAMSIZ. */
export function randomVethName(): string {
  return `veth${randomBytes(4).toString('hex')}`
}

/**
 * Creates the pair inside the container namespace as `ifName`, with the peer created directly in the
 * host namespace as veth<8 hex> (retried on a name clash there). CniError 101 when `ifName` exists.
 */
export async function createVeth(
  rtCont: Rtnl,
  rtHost: Rtnl,
  host: NetnsHandle,
  spec: { ifName: string; netns: string; mtu: number | undefined; mac: string | undefined },
  /** called with each host name before the pair is created under it (ADD records it first) */
  beforeCreate: (hostName: string) => void = () => {},
): Promise<VethPair> {
  for (let i = 0; ; i++) {
    const hostName = randomVethName()
    beforeCreate(hostName)
    try {
      await createVethPair(rtCont, {
        name: spec.ifName,
        peerName: hostName,
        peerNetns: host,
        ...(spec.mtu === undefined ? {} : { mtu: spec.mtu }),
        ...(spec.mac === undefined ? {} : { mac: spec.mac }),
      })
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e
      if ((await linkByName(rtCont, spec.ifName)) !== undefined) {
        throw new CniError(CniCode.LinkConflict, `container veth name "${spec.ifName}" already exists in ${spec.netns}`, undefined, { cause: e })
      }
      if (i + 1 >= VETH_NAME_TRIES) throw new CniError(CniCode.LinkConflict, `failed to find a free host veth name after ${VETH_NAME_TRIES} tries`, undefined, { cause: e })
      continue
    }
    const container = await getLink(rtCont, spec.ifName)
    const hostLink = await linkByName(rtHost, hostName)
    if (hostLink === undefined) throw new CniError(CniCode.KernelFailure, `host end ${hostName} of ${spec.ifName} not found in the host namespace`)
    return { container, host: hostLink }
  }
}

/** Prefix of the IFLA_IFALIAS berth puts on a host veth: "berth-bridge <owner hash> net:<network> id:<container> if:<ifname>". */
export const HOST_VETH_ALIAS_PREFIX = 'berth-bridge '

/** Whether a link is a host veth tagged with this owner. */
export const isOwnedHostVeth = (l: Link, o: MasqOwner): boolean => l.kind === 'veth' && l.alias !== undefined && l.alias.startsWith(`${HOST_VETH_ALIAS_PREFIX}${o.tag} `)

/** The owner tag ADD puts on the host veth, so DEL finds it from the host even when the netns path is gone. */
export function hostVethAlias(o: MasqOwner): string {
  return `${HOST_VETH_ALIAS_PREFIX}${o.comment}`
}

/** Tags the host veth with its owner (IFLA_IFALIAS). */
export async function tagHostVeth(rtHost: Rtnl, hostVeth: Link, o: MasqOwner): Promise<void> {
  await setLinkAlias(rtHost, hostVeth.index, hostVethAlias(o))
}

/**
 * Deletes the host veths tagged with this owner (the kernel deletes the container end with each). For
 * DEL when the container's interface could not be reached through CNI_NETNS: the path is gone or empty
 * but the namespace may still be alive, held by some other process. Returns the names deleted.
 */
export async function removeHostVethsByOwner(rtHost: Rtnl, o: MasqOwner): Promise<string[]> {
  const deleted: string[] = []
  for (const l of await listLinks(rtHost)) {
    if (!isOwnedHostVeth(l, o)) continue
    if (await delLinkIfExists(rtHost, l.index)) deleted.push(l.name)
  }
  return deleted
}

/**
 * The same for the host veth an attachment record names, without listing the host's links: 'deleted'
 * or 'gone' (no link of that name), or 'mismatch' when the name now belongs to a link that is not this
 * owner's veth (the caller then looks by owner tag).
 */
export async function removeRecordedHostVeth(rtHost: Rtnl, name: string, o: MasqOwner): Promise<'deleted' | 'gone' | 'mismatch'> {
  const l = await linkByName(rtHost, name)
  if (l === undefined) return 'gone'
  if (!isOwnedHostVeth(l, o)) return 'mismatch'
  return (await delLinkIfExists(rtHost, l.index)) ? 'deleted' : 'gone'
}

/** The first address after the network address: the gateway the reference assumes when IPAM gives none. */
export function defaultGatewayOf(cidr: string): string {
  const net = networkOf(parseCidr(cidr))
  const bytes = Uint8Array.from(net.bytes)
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff
    if (bytes[i] !== 0) break
  }
  return formatIp(bytes)
}

export const familyOf = (cidrOrIp: string): IpFamily => parseCidr(cidrOrIp).family
const DEFAULT_DST: Record<IpFamily, string> = { 4: '0.0.0.0/0', 6: '::/0' }

/**
 * The reference's calcGateways: every IP belongs to the container interface (index 2); with isGateway a
 * missing gateway becomes the subnet's first address; with isDefaultGateway each family gets a default
 * route through its gateway unless IPAM already gave one. Returns the gateway prefixes for the bridge.
 */
export function planGateways(result: CniResult, cfg: { isGateway: boolean; isDefaultGateway: boolean }, containerIndex: number): { gateways: string[]; families: Set<IpFamily> } {
  const gateways: string[] = []
  const families = new Set<IpFamily>()
  const routes: CniRoute[] = result.routes ?? []
  const hasDefault = new Set<IpFamily>()
  for (const r of routes) if (r.gw !== undefined && r.dst === DEFAULT_DST[familyOf(r.dst)]) hasDefault.add(familyOf(r.dst))
  for (const ip of result.ips ?? []) {
    ip.interface = containerIndex
    const fam = familyOf(ip.address)
    if (ip.gateway === undefined && cfg.isGateway) ip.gateway = defaultGatewayOf(ip.address)
    if (cfg.isDefaultGateway && !hasDefault.has(fam)) {
      routes.push(ip.gateway === undefined ? { dst: DEFAULT_DST[fam] } : { dst: DEFAULT_DST[fam], gw: ip.gateway })
      hasDefault.add(fam)
    }
    if (cfg.isGateway && ip.gateway !== undefined) {
      gateways.push(`${ip.gateway}/${parseCidr(ip.address).prefixLen}`)
      families.add(fam)
    }
  }
  if (routes.length > 0) result.routes = routes
  return { gateways, families }
}

/** Container-interface sysctls before addresses go on: DAD per `enabledad`, gratuitous ARP on. Best effort. */
export function containerSysctls(cont: NetnsHandle, ifName: string, enabledad: boolean, log: Log): void {
  const set = (key: string, value: string) => {
    try {
      writeSysctl(key, value, cont)
    } catch (e) {
      log.debug(`sysctl ${key}=${value} in ${cont.path} not set: ${describe(e)}`)
    }
  }
  if (enabledad) {
    set(`net/ipv6/conf/${ifName}/enhanced_dad`, '1')
    set(`net/ipv6/conf/${ifName}/accept_dad`, '1')
  } else {
    set(`net/ipv6/conf/${ifName}/accept_dad`, '0')
  }
  set(`net/ipv4/conf/${ifName}/arp_notify`, '1')
}
