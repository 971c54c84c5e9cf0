// IP addresses on links (IPv4 and IPv6).
import { NetlinkError } from '../errors/sys-error.js'
import { broadcastOf, formatCidr, formatIp, parseCidr, parseIp, type IpFamily } from '../ip/cidr.js'
import {
  AF_UNSPEC,
  familyToAf,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './constants.js'
import { linkIndex, linkLabel, type LinkRef } from './link.js'
import { addressBody, type AddressAttrs, type Rtnl } from './rtnl.js'

/** An address as the kernel reports it. */
export interface Address {
  /** ifindex of the link it is on */
  readonly index: number
  readonly family: IpFamily
  /** The address itself, "10.1.2.3" or "fd00::3" */
  readonly ip: string
  readonly prefixLen: number
  /** "10.1.2.3/24" */
  readonly cidr: string
  readonly scope: number
  /** IFA_F_* (IFA_F_PERMANENT, IFA_F_NODAD, IFA_F_NOPREFIXROUTE, IFA_F_TENTATIVE, ...) */
  readonly flags: number
  readonly label: string | undefined
  readonly broadcast: string | undefined
}

export interface AddAddressOptions {
  /** Do not add the prefix route for the subnet (IFA_F_NOPREFIXROUTE). */
  readonly noPrefixRoute?: boolean
  /** IPv6: skip duplicate address detection, so the address is usable at once (IFA_F_NODAD). */
  readonly noDad?: boolean
  /** IPv4 broadcast address; default: computed from the prefix as `brd +` does (none for /31, /32). */
  readonly broadcast?: string | false
  /** IPv4 label ("eth0:1"). */
  readonly label?: string
  /** Address scope (default universe). */
  readonly scope?: number
}

async function newAddr(rt: Rtnl, link: LinkRef, cidr: string, o: AddAddressOptions, flags: number, op: string): Promise<void> {
  const net = parseCidr(cidr)
  const index = await linkIndex(rt, link)
  const ip = Buffer.from(net.bytes)
  const attrs: AddressAttrs = { local: ip, address: ip }
  if (net.family === 4 && o.broadcast !== false) {
    const brd = o.broadcast === undefined ? broadcastOf(net) : parseIp(o.broadcast)
    if (brd !== undefined) attrs.broadcast = Buffer.from(brd.bytes)
  }
  if (o.label !== undefined) attrs.label = o.label
  let ifaFlags = 0
  if (o.noPrefixRoute) ifaFlags |= IFA_F_NOPREFIXROUTE
  if (o.noDad) ifaFlags |= IFA_F_NODAD
  await rt.request({
    type: RTM_NEWADDR,
    flags,
    body: addressBody({ family: familyToAf(net.family), prefixLen: net.prefixLen, scope: o.scope ?? RT_SCOPE_UNIVERSE, index }, attrs, ifaFlags),
    op: `${op} ${formatCidr(net)} on`,
    target: linkLabel(link),
  })
}

/** Adds an address; EEXIST if the link already has it. `ip addr add CIDR dev LINK [noprefixroute] [nodad]` */
export function addAddress(rt: Rtnl, link: LinkRef, cidr: string, opts: AddAddressOptions = {}): Promise<void> {
  return newAddr(rt, link, cidr, opts, NLM_F_CREATE | NLM_F_EXCL, 'add address')
}

/** Adds an address, or updates its flags if present. `ip addr replace CIDR dev LINK ...` */
export function replaceAddress(rt: Rtnl, link: LinkRef, cidr: string, opts: AddAddressOptions = {}): Promise<void> {
  return newAddr(rt, link, cidr, opts, NLM_F_CREATE | NLM_F_REPLACE, 'replace address')
}

/** Addresses in the namespace, optionally of one link and/or family. `ip [-4|-6] addr show [dev LINK]` */
export async function listAddresses(rt: Rtnl, filter: { link?: LinkRef; family?: IpFamily } = {}): Promise<Address[]> {
  const index = filter.link === undefined ? undefined : await linkIndex(rt, filter.link)
  const msgs = await rt.request({
    type: RTM_GETADDR,
    flags: NLM_F_DUMP,
    body: addressBody({ family: filter.family === undefined ? AF_UNSPEC : familyToAf(filter.family) }, {}),
    op: 'list addresses',
    target: filter.link === undefined ? rt.netns : linkLabel(filter.link),
  })
  const out: Address[] = []
  for (const m of msgs) {
    if (m.kind !== 'address' || (index !== undefined && m.hdr.index !== index)) continue
    const raw = m.attrs.local ?? m.attrs.address
    if (raw === undefined || (raw.length !== 4 && raw.length !== 16)) continue
    const family: IpFamily = raw.length === 4 ? 4 : 6
    if (filter.family !== undefined && family !== filter.family) continue
    const ip = formatIp(raw)
    out.push({
      index: m.hdr.index,
      family,
      ip,
      prefixLen: m.hdr.prefixLen,
      cidr: `${ip}/${m.hdr.prefixLen}`,
      scope: m.hdr.scope,
      flags: m.ifaFlags,
      label: m.attrs.label,
      broadcast: m.attrs.broadcast ? formatIp(m.attrs.broadcast) : undefined,
    })
  }
  return out
}

/** Removes an address; EADDRNOTAVAIL if the link does not have it. `ip addr del CIDR dev LINK` */
export async function delAddress(rt: Rtnl, link: LinkRef, cidr: string): Promise<void> {
  const net = parseCidr(cidr)
  const index = await linkIndex(rt, link)
  const ip = Buffer.from(net.bytes)
  await rt.request({
    type: RTM_DELADDR,
    body: addressBody({ family: familyToAf(net.family), prefixLen: net.prefixLen, index }, { local: ip, address: ip }),
    op: `delete address ${formatCidr(net)} from`,
    target: linkLabel(link),
  })
}

/** `ip addr del CIDR dev LINK`, where a missing address or link is success. Resolves true if deleted. */
export async function delAddressIfExists(rt: Rtnl, link: LinkRef, cidr: string): Promise<boolean> {
  try {
    await delAddress(rt, link, cidr)
    return true
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'EADDRNOTAVAIL' || e.code === 'ENODEV')) return false
    throw e
  }
}
