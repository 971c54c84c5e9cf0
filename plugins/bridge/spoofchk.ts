// macspoofchk with nftables: frames entering the bridge from a container's host veth must carry the
// container interface's MAC as source.
//
// Table bridge berth_bridge_spoof:
//   set ports     (ifname)               host veths under the check, one element per attachment
//   set allowed   (ifname . ether_addr)  the MAC each of those ports may send from
//   chain prerouting  filter hook prerouting prio -300 (before anything else on the bridge); one fixed rule:
//                       iifname @ports iifname . ether saddr != @allowed drop
// Elements carry the owner comment of masq.ts (pkg/owner: hash of network, container ID, ifname). DEL
// deletes them by key (port and MAC from the attachment's record, state.ts), or, without a record or
// when that fails, by listing and matching the owner tag: it needs neither the netns nor prevResult. GC removes the elements of the network (named in
// the comment) whose owner tag belongs to none of the valid attachments.
import { elementsOf, nftApply, nftList, type NftObject } from '../../pkg/firewall/nft.js'
import { NftBatch, type NftJson } from '../../pkg/firewall/nft-batch.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { CniError } from '../../pkg/errors/cni-error.js'
import type { Log } from '../../pkg/log/log.js'
import { ownedBy, ownerTagOf } from '../../pkg/owner/owner.js'
import { chainExprs, listedObject, masqOwner, ownerCommentOfNetwork, type MasqOwner } from './masq.js'

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
    const mine = (elementsOf(listing, set) ?? []).filter((e) => ownedBy(e.comment, o))
    if (mine.length > 0) b.deleteElements(FAMILY, SPOOF_TABLE, set, mine)
  }
  return b
}

export function setupSpoofCheck(ns: NetnsHandle | undefined, o: MasqOwner, hostVeth: string, mac: string): void {
  nftApply(ns, setupSpoofBatch(o, hostVeth, mac))
}

/** The DEL transaction by key: the port and its (port . MAC) pair (it fails when one is missing). */
export function deleteSpoofKeysBatch(hostVeth: string, mac: string): NftBatch {
  return new NftBatch()
    .deleteElements(FAMILY, SPOOF_TABLE, 'ports', [hostVeth])
    .deleteElements(FAMILY, SPOOF_TABLE, 'allowed', [{ concat: [hostVeth, mac.toLowerCase()] }])
}

/** Removes the owner's elements: by key when `keys` are given and that succeeds, else by listing. */
export function teardownSpoofCheck(ns: NetnsHandle | undefined, o: MasqOwner, keys?: { port: string; mac: string }, log?: Log): void {
  if (keys !== undefined) {
    try {
      nftApply(ns, deleteSpoofKeysBatch(keys.port, keys.mac))
      return
    } catch (e) {
      if (!(e instanceof CniError)) throw e
      log?.info(`MAC spoof check: deleting ${keys.port} by key failed (${e.message}); deleting by owner from a listing`)
    }
  }
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

const SPOOF_NAME = `table ${FAMILY} ${SPOOF_TABLE}`

/**
 * The first thing missing from the spoof check of (hostVeth, mac) in a listing of table bridge
 * berth_bridge_spoof, or undefined when everything ADD made is there: the hooked chain with its drop rule,
 * the port in `ports` and (port . MAC) in `allowed`, both with the owner's tag.
 */
export function checkSpoofListing(o: MasqOwner, hostVeth: string, mac: string, listing: readonly NftObject[] | undefined, who: string): string | undefined {
  if (listing === undefined) return `MAC spoof check: ${SPOOF_NAME} does not exist (${who})`
  const chain = listedObject(listing, 'chain', CHAIN)
  if (chain === undefined || chain['hook'] !== 'prerouting') return `MAC spoof check: ${SPOOF_NAME} has no chain ${CHAIN} hooked at prerouting (${who})`
  const right = (e: NftJson) => (typeof e === 'object' && e !== null && !Array.isArray(e) ? (e as { match?: { right?: unknown } }).match?.right : undefined)
  const isDrop = (e: NftJson) => typeof e === 'object' && e !== null && !Array.isArray(e) && 'drop' in e
  const ruleOk = chainExprs(listing, CHAIN).some((x) => x.some((e) => right(e) === '@ports') && x.some((e) => right(e) === '@allowed') && x.some(isDrop))
  if (!ruleOk) return `MAC spoof check: chain ${CHAIN} of ${SPOOF_NAME} has no rule "iifname @ports iifname . ether saddr != @allowed drop" (${who})`
  const ports = elementsOf(listing, 'ports')
  const port = ports?.find((e) => e.key === hostVeth)
  if (port === undefined) return `MAC spoof check: port ${hostVeth} is not in ${SPOOF_NAME} set ports (${who})`
  if (ownerTagOf(port.comment) !== o.tag) return `MAC spoof check: port ${hostVeth} in ${SPOOF_NAME} set ports belongs to another attachment ("${port.comment ?? ''}"), not ${who}`
  const want = mac.toLowerCase()
  const pair = elementsOf(listing, 'allowed')?.find((e) => {
    const c = (e.key as { concat?: unknown } | null)?.concat
    return Array.isArray(c) && c[0] === hostVeth && typeof c[1] === 'string' && c[1].toLowerCase() === want
  })
  if (pair === undefined) return `MAC spoof check: ${hostVeth} . ${want} is not in ${SPOOF_NAME} set allowed (${who})`
  if (ownerTagOf(pair.comment) !== o.tag) return `MAC spoof check: ${hostVeth} . ${want} in ${SPOOF_NAME} set allowed belongs to another attachment ("${pair.comment ?? ''}"), not ${who}`
  return undefined
}

/** CHECK of the spoof check in `ns` (undefined: the host): the first thing missing, or undefined. */
export function checkSpoofCheck(ns: NetnsHandle | undefined, o: MasqOwner, hostVeth: string, mac: string, who: string): string | undefined {
  return checkSpoofListing(o, hostVeth, mac, nftList(ns, FAMILY, SPOOF_TABLE), who)
}
