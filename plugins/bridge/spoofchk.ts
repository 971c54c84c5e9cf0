// macspoofchk with nftables: frames entering the bridge from a container's host veth must carry the
// container interface's MAC as source.
//
// Table bridge berth_bridge_spoof:
//   set ports     (ifname)               host veths under the check, one element per attachment
//   set allowed   (ifname . ether_addr)  the MAC each of those ports may send from
//   chain prerouting  filter hook prerouting prio -300 (before anything else on the bridge); one fixed rule:
//                       iifname @ports iifname . ether saddr != @allowed drop
// Elements carry the owner comment of masq.ts (hash of network, container ID, ifname), so DEL removes
// them by listing, without the netns or prevResult. GC removes the elements of the network (named in
// the comment) whose owner tag belongs to none of the valid attachments.
import { elementsOf, nftApply, nftList, type NftObject } from '../../pkg/firewall/nft.js'
import { NftBatch, type NftJson } from '../../pkg/firewall/nft-batch.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { masqOwner, ownerCommentOfNetwork, ownerTagOf, type MasqOwner } from './masq.js'

export const SPOOF_TABLE = 'berth_bridge_spoof'
const FAMILY = 'bridge'
const CHAIN = 'prerouting'
const iif: NftJson = { meta: { key: 'iifname' } }
const match = (op: string, left: NftJson, right: NftJson): NftJson => ({ match: { op, left, right } })

export function setupSpoofBatch(o: MasqOwner, hostVeth: string, mac: string): NftBatch {
  const t = { family: FAMILY, table: SPOOF_TABLE } as const
  return new NftBatch()
    .addTable(FAMILY, SPOOF_TABLE)
    .addSet({ ...t, name: 'ports', type: 'ifname' })
    .addSet({ ...t, name: 'allowed', type: ['ifname', 'ether_addr'] })
    .addChain({ ...t, name: CHAIN, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' })
    .flushChain(FAMILY, SPOOF_TABLE, CHAIN)
    .addRule({
      ...t,
      chain: CHAIN,
      expr: [match('==', iif, '@ports'), match('!=', { concat: [iif, { payload: { protocol: 'ether', field: 'saddr' } }] }, '@allowed'), { drop: null }],
    })
    .addElements(FAMILY, SPOOF_TABLE, 'ports', [{ key: hostVeth, comment: o.comment }])
    .addElements(FAMILY, SPOOF_TABLE, 'allowed', [{ key: { concat: [hostVeth, mac.toLowerCase()] }, comment: o.comment }])
}

export function teardownSpoofBatch(o: MasqOwner, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  for (const set of ['ports', 'allowed']) {
    const mine = (elementsOf(listing, set) ?? []).filter((e) => e.comment?.startsWith(`${o.tag} `))
    if (mine.length > 0) b.deleteElements(FAMILY, SPOOF_TABLE, set, mine)
  }
  return b
}

export function setupSpoofCheck(ns: NetnsHandle | undefined, o: MasqOwner, hostVeth: string, mac: string): void {
  nftApply(ns, setupSpoofBatch(o, hostVeth, mac))
}

export function teardownSpoofCheck(ns: NetnsHandle | undefined, o: MasqOwner): void {
  nftApply(ns, teardownSpoofBatch(o, nftList(ns, FAMILY, SPOOF_TABLE)))
}

/** The GC transaction: elements of `network` in ports/allowed whose owner is not among `valid`. */
export function gcSpoofBatch(network: string, valid: readonly { containerID: string; ifname: string }[], listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  const keep = new Set(valid.map((v) => masqOwner(network, v.containerID, v.ifname).tag))
  for (const set of ['ports', 'allowed']) {
    const stale = (elementsOf(listing, set) ?? []).filter((e) => ownerCommentOfNetwork(e.comment, network) && !keep.has(ownerTagOf(e.comment)))
    if (stale.length > 0) b.deleteElements(FAMILY, SPOOF_TABLE, set, stale)
  }
  return b
}

/** Removes this network's spoof-check elements that belong to no valid attachment. */
export function gcSpoofCheck(ns: NetnsHandle | undefined, network: string, valid: readonly { containerID: string; ifname: string }[]): void {
  nftApply(ns, gcSpoofBatch(network, valid, nftList(ns, FAMILY, SPOOF_TABLE)))
}
