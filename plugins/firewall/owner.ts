// Who a firewall element or iptables rule belongs to: pkg/owner's comment with a network tag salted
// "berth-firewall\0" (GC matches it), as every berth firewall has written:
//   "<tag> <net tag> net:<network> id:<container ID, 12 chars> if:<ifname>"
import { networkTag as saltedNetworkTag, ownerOf as makeOwner, type Owner as AnyOwner } from '../../pkg/owner/owner.js'

export { ownedBy, parseOwnerComment } from '../../pkg/owner/owner.js'

/** A firewall owner always carries its network tag. */
export type Owner = AnyOwner & { netTag: string }

const SALT = 'berth-firewall\0'

export const networkTag = (network: string): string => saltedNetworkTag(network, SALT)

export function ownerOf(network: string, containerId: string, ifName: string): Owner {
  const o = makeOwner(network, containerId, ifName, { netTagSalt: SALT })
  return { ...o, netTag: o.netTag ?? networkTag(network) }
}
