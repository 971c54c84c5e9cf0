// The host's VTEP: one VXLAN device per network ("berth.<vni>"), learning off (peers come from static
// FDB and neighbour entries, as in flannel's L3 model), bound to the underlay link and address, with the
// address <subnet>.0/32. Its MAC is derived from the network and the underlay address, so a device that
// is recreated keeps the MAC its lease advertises.
import { createHash } from 'node:crypto'
import { CniCode, CniError } from '../errors/cni-error.js'
import { NetlinkError } from '../errors/sys-error.js'
import { delAddressIfExists, listAddresses, replaceAddress } from '../link/addr.js'
import { delLinkIfExists, getLink, linkByName, setLinkMtu, setLinkUp, type Link } from '../link/link.js'
import type { Rtnl } from '../link/rtnl.js'
import { ensureVxlan, vxlanInfoOf } from '../link/vxlan.js'
import { VXLAN_OVERHEAD, vtepAddressOf, type OverlayNetwork } from './config.js'
import type { Underlay } from './underlay.js'

export interface Vtep {
  link: Link
  mac: string
  /** the overlay MTU (device, bridge and container interfaces) */
  mtu: number
  /** the device was made by this call */
  created: boolean
}

/** The overlay MTU: configured, else underlay MTU minus the VXLAN overhead of the underlay's family. */
export function overlayMtu(net: OverlayNetwork, underlay: Underlay): number {
  return net.mtu ?? underlay.link.mtu - VXLAN_OVERHEAD[underlay.family]
}

/** A locally administered unicast MAC from (network, underlay address): stable across device re-creation. */
export function vtepMacFor(network: string, publicIp: string): string {
  const h = createHash('sha256').update(`${network}\0${publicIp}`).digest()
  const b = [0x0e, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0]
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}

/**
 * Creates the VXLAN device or reuses the one there (same VNI, port and local address), and brings it up.
 * A device of that name with other settings is CniError 101; a UDP port already bound by something else
 * is CniError 101 naming the port (the kernel opens the VXLAN socket when the device goes up).
 */
export async function ensureVtep(rt: Rtnl, net: OverlayNetwork, underlay: Underlay): Promise<Vtep> {
  const mtu = overlayMtu(net, underlay)
  const existed = (await linkByName(rt, net.vxlanName)) !== undefined
  let link: Link
  try {
    link = await ensureVxlan(rt, {
      name: net.vxlanName,
      vni: net.vni,
      port: net.port,
      local: underlay.ip,
      underlay: underlay.link.index,
      learning: false,
      mtu,
      mac: vtepMacFor(net.name, underlay.ip),
    })
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'EEXIST') {
      throw new CniError(
        CniCode.LinkConflict,
        `cannot create VXLAN device ${net.vxlanName} (vni ${net.vni}, port ${net.port}, local ${underlay.ip}): ${e.message}; another device uses this name or VNI/port`,
      )
    }
    throw e
  }
  const created = !existed
  try {
    if (link.mtu !== mtu) await setLinkMtu(rt, link.index, mtu)
    if (!link.up) await setLinkUp(rt, link.index)
  } catch (e) {
    if (created) await delLinkIfExists(rt, link.index)
    if (e instanceof NetlinkError && e.code === 'EADDRINUSE') {
      throw new CniError(CniCode.LinkConflict, `UDP port ${net.port} is in use on this host: set "port" to a free one (4789 or 8472 are usual)`)
    }
    throw e
  }
  link = await getLink(rt, link.index)
  if (link.mac === undefined) throw new CniError(CniCode.KernelFailure, `VXLAN device ${net.vxlanName} has no MAC address`)
  return { link, mac: link.mac, mtu, created }
}

/** Gives the device exactly the address <subnet>.0/32 (a lease that moved to another subnet drops the old one). */
export async function setVtepAddress(rt: Rtnl, link: Link, subnet: string): Promise<void> {
  const want = `${vtepAddressOf(subnet)}/32`
  const have = await listAddresses(rt, { link: link.index, family: 4 })
  for (const a of have) if (a.cidr !== want) await delAddressIfExists(rt, link.index, a.cidr)
  if (!have.some((a) => a.cidr === want)) await replaceAddress(rt, link.index, want)
}

/** The device and its settings as CHECK sees them; a message naming what is wrong, or undefined if fine. */
export async function checkVtep(rt: Rtnl, net: OverlayNetwork, subnet: string): Promise<string | undefined> {
  const link = await linkByName(rt, net.vxlanName)
  if (link === undefined) return `VXLAN device ${net.vxlanName} is missing`
  const info = vxlanInfoOf(link)
  if (info === undefined || info.vni !== net.vni || info.port !== net.port) return `${net.vxlanName} is not a VXLAN device with vni ${net.vni} port ${net.port}`
  if (!link.up) return `VXLAN device ${net.vxlanName} is down`
  const want = `${vtepAddressOf(subnet)}/32`
  const have = await listAddresses(rt, { link: link.index, family: 4 })
  if (!have.some((a) => a.cidr === want)) return `VXLAN device ${net.vxlanName} lacks its address ${want}`
  return undefined
}
