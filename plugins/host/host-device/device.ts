// Finding the host device, and giving it back: the kernel-facing half of host-device.
import { existsSync } from 'node:fs'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { NetlinkError } from '../../../pkg/errors/sys-error.js'
import { addAddress, listAddresses } from '../../../pkg/link/addr.js'
import { IFF_LOOPBACK } from '../../../pkg/link/constants.js'
import { linkByName, listLinks, moveLinkToNetns, renameLink, setLinkAlias, setLinkDown, setLinkMtu, setLinkUp, type Link } from '../../../pkg/link/link.js'
import type { Rtnl } from '../../../pkg/link/rtnl.js'
import type { Log } from '../../../pkg/log/log.js'
import type { NetnsHandle } from '../../../pkg/ns/netns.js'
import { describeSelector, type Selector } from './config.js'
import { listStates, type SavedDevice } from './state.js'
import { sysfsNetNames } from './sysfs.js'

/** "02-00-AA-..." or "02:00:aa:..." → "02:00:aa:...". */
export function normalizeMac(mac: string): string {
  return mac.toLowerCase().replaceAll('-', ':')
}

/** Kinds the plugin refuses to hand over: a container cannot use them as its own interface. */
const REFUSED_KINDS: Record<string, string> = { bridge: 'a bridge', bond: 'a bond master', vrf: 'a VRF device' }

/**
 * The host link the selector names, checked to be movable. CniError 7 when there is none (101 when the
 * state directory says another container has it) or when it is a loopback or bridge device.
 */
export async function findHostDevice(rt: Rtnl, s: Selector, o: { stateDir: string; sysRoot?: string }): Promise<Link> {
  let link: Link | undefined
  switch (s.by) {
    case 'device':
      link = await linkByName(rt, s.value)
      break
    case 'hwaddr': {
      const want = normalizeMac(s.value)
      link = (await listLinks(rt)).find((l) => l.mac === want)
      break
    }
    case 'kernelpath':
    case 'pciBusID':
      for (const name of sysfsNetNames(s, o.sysRoot)) {
        link = await linkByName(rt, name)
        if (link !== undefined) break
      }
      break
  }
  if (link === undefined) {
    // A record whose namespace is gone is stale (its virtual device died with it): not an owner.
    const owner = listStates(o.stateDir).find(
      (st) =>
        st.device !== null &&
        ((s.by === 'device' && st.device.name === s.value) || (s.by === 'hwaddr' && st.device.mac === normalizeMac(s.value))) &&
        existsSync(st.netns),
    )
    if (owner !== undefined) {
      throw new CniError(
        CniCode.LinkConflict,
        `host device ${describeSelector(s)} is already in use: it was moved into container ${owner.containerId} as ${owner.ifName} (network ${owner.network})`,
      )
    }
    throw new CniError(CniCode.InvalidConfig, `host device ${describeSelector(s)} not found in the host network namespace`)
  }
  if ((link.flags & IFF_LOOPBACK) !== 0) {
    throw new CniError(CniCode.InvalidConfig, `host device ${link.name} is a loopback device and cannot be moved into a container`)
  }
  const refused = link.kind === undefined ? undefined : REFUSED_KINDS[link.kind]
  if (refused !== undefined) {
    throw new CniError(CniCode.InvalidConfig, `host device ${link.name} is ${refused} and cannot be moved into a container`)
  }
  return link
}

/** What to remember about a host link before it leaves: name, MTU, state and its addresses (not link-local IPv6). */
export async function snapshotDevice(rt: Rtnl, link: Link): Promise<SavedDevice> {
  const addrs = await listAddresses(rt, { link: link.index })
  return {
    name: link.name,
    index: link.index,
    kind: link.kind ?? null,
    mac: link.mac ?? null,
    mtu: link.mtu,
    up: link.up,
    addresses: addrs.filter((a) => !(a.family === 6 && a.ip.toLowerCase().startsWith('fe80:'))).map((a) => a.cidr),
    alias: link.alias ?? null,
  }
}

const sameKind = (l: Link, d: SavedDevice) => (l.kind ?? null) === d.kind

/**
 * The device in the container: the link called ifName (or still under its host name, after a move whose
 * rename failed) of the recorded kind, with the recorded MAC or carrying the host name in its alias (ADD
 * sets it), so that another plugin's link that took the name after ours vanished is never taken.
 * undefined when it is not there.
 */
export async function findInContainer(rt: Rtnl, d: SavedDevice, ifName: string): Promise<Link | undefined> {
  for (const name of [ifName, d.name]) {
    const l = await linkByName(rt, name)
    if (l !== undefined && sameKind(l, d) && ((d.mac !== null && l.mac === d.mac) || l.alias === d.name)) return l
  }
  return undefined
}

/**
 * The device back in the host namespace, under any name: by index, kind and MAC first, else by kind and
 * MAC if that is unambiguous. The kernel returns a physical device to the initial namespace when the
 * container's namespace goes away (named as in the container, or "dev<N>" on a clash); virtual devices
 * (veth, macvlan, ipvlan, dummy) are deleted instead, so for them this finds nothing.
 */
export async function findInHost(rt: Rtnl, d: SavedDevice, log: Log): Promise<Link | undefined> {
  const links = (await listLinks(rt)).filter((l) => sameKind(l, d) && (d.mac === null ? l.index === d.index : l.mac === d.mac))
  const byIndex = links.find((l) => l.index === d.index)
  if (byIndex !== undefined) return byIndex
  if (links.length === 1) return links[0]
  if (links.length > 1) log.warn(`${links.length} host links have MAC ${d.mac}; not guessing which one was ${d.name}`)
  return undefined
}

/**
 * Gives a link now in the host its recorded name, MTU, addresses and up/down state. Idempotent.
 * CniError 101 when another link has taken the name meanwhile.
 */
export async function restoreInHost(rt: Rtnl, link: Link, d: SavedDevice): Promise<void> {
  if (link.name !== d.name) {
    const other = await linkByName(rt, d.name)
    if (other !== undefined && other.index !== link.index) {
      throw new CniError(CniCode.LinkConflict, `cannot restore host device ${d.name}: the name is now taken by another link (ifindex ${other.index}); it stays as ${link.name}`)
    }
    await setLinkDown(rt, link.index)
    await renameLink(rt, link.index, d.name)
  }
  if (link.mtu !== d.mtu) await setLinkMtu(rt, link.index, d.mtu)
  if (d.alias !== undefined && (link.alias ?? null) !== d.alias) await setLinkAlias(rt, link.index, d.alias ?? '')
  if (d.up) await setLinkUp(rt, link.index)
  else await setLinkDown(rt, link.index)
  const have = new Set((await listAddresses(rt, { link: link.index })).map((a) => a.cidr))
  for (const cidr of d.addresses) {
    if (have.has(cidr)) continue
    try {
      await addAddress(rt, link.index, cidr)
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'EEXIST')) throw e
    }
  }
}

/**
 * Moves the device from the container back to the host under its recorded name and restores it; when it
 * is no longer in the container, restores it wherever it is in the host. Resolves to what happened.
 */
export async function returnDevice(
  p: { rtHost: Rtnl; hostNs: NetnsHandle; rtCont: Rtnl | undefined; ifName: string; device: SavedDevice },
  log: Log,
): Promise<'moved' | 'restored' | 'gone'> {
  const d = p.device
  const inCont = p.rtCont === undefined ? undefined : await findInContainer(p.rtCont, d, p.ifName)
  if (inCont !== undefined && p.rtCont !== undefined) {
    const taken = await linkByName(p.rtHost, d.name)
    if (taken !== undefined) {
      throw new CniError(CniCode.LinkConflict, `cannot move ${p.ifName} back to the host as ${d.name}: the host has another link of that name (ifindex ${taken.index})`)
    }
    await setLinkDown(p.rtCont, inCont.index)
    // Moves and renames; if the rename fails the link is in the host under its container name, and
    // findInHost below (or the next DEL) still finds it by MAC.
    try {
      await moveLinkToNetns(p.rtCont, inCont.index, p.hostNs, d.name)
    } catch (e) {
      if ((await findInContainer(p.rtCont, d, p.ifName)) !== undefined) throw e
      log.warn(`moved ${p.ifName} to the host but could not rename it to ${d.name}: ${String(e)}`)
    }
    const back = (await linkByName(p.rtHost, d.name)) ?? (await findInHost(p.rtHost, d, log))
    if (back === undefined) throw new CniError(CniCode.KernelFailure, `moved ${p.ifName} to the host namespace but cannot find it there as ${d.name}`)
    await restoreInHost(p.rtHost, back, d)
    return 'moved'
  }
  const inHost = await findInHost(p.rtHost, d, log)
  if (inHost === undefined) return 'gone'
  await restoreInHost(p.rtHost, inHost, d)
  return 'restored'
}

/**
 * An attachment made by the reference plugin (no state file): it keeps the host name in the container
 * link's alias. What DEL can restore from that: the name; the device comes back down, as the reference
 * leaves it. undefined when the container has no such link.
 */
export async function legacyDevice(rt: Rtnl, ifName: string): Promise<SavedDevice | undefined> {
  const l = await linkByName(rt, ifName)
  if (l === undefined || l.alias === undefined || !/^[^\s/:]{1,15}$/.test(l.alias)) return undefined
  return { name: l.alias, index: l.index, kind: l.kind ?? null, mac: l.mac ?? null, mtu: l.mtu, up: false, addresses: [] }
}
