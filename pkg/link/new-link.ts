// RTM_NEWLINK for a new device of some kind: the part shared by veth.ts, bridge.ts, vxlan.ts, macvlan.ts, dummy.ts.
import type { NetnsHandle } from '../ns/netns.js'
import { NLM_F_CREATE, NLM_F_EXCL, RTM_NEWLINK } from './constants.js'
import { parseMac } from './mac.js'
import { linkBody, linkInfoData, type LinkAttrs, type Rtnl } from './rtnl.js'

/** Options every link kind accepts. */
export interface CommonLinkOptions {
  readonly mtu?: number
  /** "aa:bb:cc:dd:ee:ff"; the kernel picks a random one when omitted. */
  readonly mac?: string
  readonly txQueueLen?: number
  /**
   * Create the link directly in this namespace (IFLA_NET_NS_FD) instead of the handle's.
   * Parent links (IFLA_LINK) are still looked up in the handle's namespace.
   */
  readonly netns?: NetnsHandle
}

/** The IFLA_* attributes for CommonLinkOptions. */
export function commonAttrs(name: string, o: CommonLinkOptions): LinkAttrs {
  const a: LinkAttrs = { ifname: name }
  if (o.mtu !== undefined) a.mtu = o.mtu
  if (o.mac !== undefined) a.address = parseMac(o.mac)
  if (o.txQueueLen !== undefined) a.txqlen = o.txQueueLen
  if (o.netns !== undefined) a.netNsFd = o.netns.fd
  return a
}

/** IFLA_LINK value (u32 ifindex) in the Buffer form netlink's LinkAttrs wants. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

export interface NewLinkSpec {
  readonly name: string
  readonly kind: string
  readonly common: CommonLinkOptions
  /** IFLA_INFO_DATA for the kind, already encoded. */
  readonly infoData?: Buffer
  /** IFLA_LINK: the parent link's ifindex (macvlan, vlan, ...). */
  readonly parentIndex?: number
  /** What to call the operation in errors (default "create KIND"). */
  readonly op?: string
}

/**
 * Creates a link; EEXIST (a link of that name exists) is an error.
 * `ip link add NAME [mtu M] [address MAC] [link PARENT] [netns NS] type KIND ...`
 */
export async function createLinkOfKind(rt: Rtnl, spec: NewLinkSpec): Promise<void> {
  const attrs = commonAttrs(spec.name, spec.common)
  if (spec.parentIndex !== undefined) attrs.link = u32(spec.parentIndex)
  attrs.linkinfo = linkInfoData(spec.infoData === undefined ? { kind: spec.kind } : { kind: spec.kind, data: spec.infoData })
  await rt.request({
    type: RTM_NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: linkBody({}, attrs),
    op: spec.op ?? `create ${spec.kind}`,
    target: spec.name,
  })
}
