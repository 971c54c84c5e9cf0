// veth pairs, with the peer created directly in another namespace (no create-then-move).
import type { NetnsHandle } from '../ns/netns.js'
import { parseMac } from './mac.js'
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import { vethInfoData, type LinkAttrs, type Rtnl } from './rtnl.js'

export interface VethPairSpec extends CommonLinkOptions {
  /** This end's name, created in the handle's namespace (or in `netns`). */
  readonly name: string
  /** The other end's name. */
  readonly peerName: string
  /** Create the peer in this namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER); default: next to `name`. */
  readonly peerNetns?: NetnsHandle
  /** Peer MTU; defaults to `mtu`. */
  readonly peerMtu?: number
  readonly peerMac?: string
}

/**
 * Creates a veth pair; a name already taken on either side is EEXIST.
 * `ip link add NAME [mtu M] [address MAC] type veth peer name PEER [netns NS] [mtu M] [address MAC]`
 *
 * The peer's ifindex is then `link.parentIndex` of this end (see linkByName), and `link.netnsId` is
 * set when the peer lives in another namespace.
 */
export async function createVethPair(rt: Rtnl, spec: VethPairSpec): Promise<void> {
  const peer: LinkAttrs = { ifname: spec.peerName }
  const peerMtu = spec.peerMtu ?? spec.mtu
  if (peerMtu !== undefined) peer.mtu = peerMtu
  if (spec.peerMac !== undefined) peer.address = parseMac(spec.peerMac)
  if (spec.peerNetns !== undefined) peer.netNsFd = spec.peerNetns.fd
  await createLinkOfKind(rt, {
    name: spec.name,
    kind: 'veth',
    common: spec,
    infoData: vethInfoData({}, peer),
    op: `create veth (peer ${spec.peerName}${spec.peerNetns ? ` in ${spec.peerNetns.path}` : ''})`,
  })
}
