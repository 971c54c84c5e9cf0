// The container interface's tunable attributes: read them all at once, change one at a time.
// pkg/link's Link has no txqlen or allmulti, so this reads the raw RTM_NEWLINK reply through the same
// Rtnl handle (bound to the container's namespace) and sets IFLA_TXQLEN / IFF_ALLMULTI itself.
import { NetlinkError } from '../../pkg/errors/sys-error.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { setLinkMac, setLinkMtu, setLinkPromisc } from '../../pkg/link/link.js'
import { RTM_GETLINK, RTM_SETLINK } from '../../pkg/link/constants.js'
import { formatMac } from '../../pkg/link/mac.js'
import { linkBody, type Rtnl } from '../../pkg/link/rtnl.js'

export const IFF_PROMISC = 0x100
export const IFF_ALLMULTI = 0x200

/** What tuning reads and restores. */
export interface LinkTunables {
  index: number
  mac: string | undefined
  mtu: number
  promisc: boolean
  allmulti: boolean
  txQLen: number
}

/** The interface's current values, or undefined when there is no such interface. */
export async function readTunables(rt: Rtnl, ifName: string): Promise<LinkTunables | undefined> {
  let msgs
  try {
    msgs = await rt.request({ type: RTM_GETLINK, body: linkBody({ index: 0 }, { ifname: ifName }), op: 'get link', target: ifName })
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined
    throw e
  }
  const m = msgs.find((x) => x.kind === 'link')
  if (m === undefined || m.kind !== 'link') return undefined
  const a = m.attrs
  return {
    index: m.hdr.index,
    mac: a.address && a.address.length === 6 ? formatMac(a.address) : undefined,
    mtu: a.mtu ?? 0,
    promisc: (m.hdr.flags & IFF_PROMISC) !== 0,
    allmulti: (m.hdr.flags & IFF_ALLMULTI) !== 0,
    txQLen: a.txqlen ?? 0,
  }
}

export async function requireTunables(rt: Rtnl, ifName: string, netns: string): Promise<LinkTunables> {
  const t = await readTunables(rt, ifName)
  if (t === undefined) throw new CniError(CniCode.KernelFailure, `failed to get link ${ifName} in ${netns}: no such interface`)
  return t
}

export type Tunable = 'mac' | 'mtu' | 'promisc' | 'allmulti' | 'txQLen'

/** Sets one attribute (by ifindex, so a concurrent rename cannot redirect it). */
export async function setTunable<K extends Tunable>(rt: Rtnl, index: number, key: K, value: LinkTunables[K]): Promise<void> {
  switch (key) {
    case 'mac':
      return setLinkMac(rt, index, value as string)
    case 'mtu':
      return setLinkMtu(rt, index, value as number)
    case 'promisc':
      return setLinkPromisc(rt, index, value as boolean)
    case 'allmulti': {
      const on = value as boolean
      await rt.request({
        type: RTM_SETLINK,
        body: linkBody({ index, flags: on ? IFF_ALLMULTI : 0, change: IFF_ALLMULTI }, {}),
        op: `set link allmulticast ${on ? 'on' : 'off'}`,
        target: `ifindex ${index}`,
      })
      return
    }
    case 'txQLen':
      await rt.request({ type: RTM_SETLINK, body: linkBody({ index }, { txqlen: value as number }), op: 'set link txqueuelen', target: `ifindex ${index}` })
      return
  }
}
