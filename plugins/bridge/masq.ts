// ipMasq with nftables: NAT for traffic leaving a bridge network, in berth's own table.
//
// Layout (family inet, table berth_bridge):
//   chain postrouting   nat hook postrouting prio srcnat; exactly two rules, the same for everyone:
//                         ip saddr vmap @src4      ip6 saddr vmap @src6
//   map src4 / src6     container address : jump net_<h>   one element per container address,
//                       with the owner comment of pkg/owner ("<tag> net:<network> id:<container> if:<ifname>")
//   chain net_<h>       per network (h = hash of the network name); the same rules for every ADD:
//                         ip daddr @dst4_<h> return; ip6 daddr @dst6_<h> return;
//                         ip daddr 224.0.0.0/4 return; ip6 daddr ff00::/8 return; masquerade
//   set dst4_<h>/dst6_<h>  the network's subnets (interval sets): traffic inside the network is not NATed
//
// An ADD whose network's two fixed chains hold their rules (read as a kernel rule dump, which unlike
// `nft list` does not fetch the maps' elements) only creates its elements ("create", which fails on a
// leftover of the same address) and adds the network's subnets: the common case, and a cheap
// transaction. The kernel makes a transaction that deletes anything or re-adds an existing chain wait
// for an RCU grace period (~14 ms here, whatever its size), so the full form runs only when that fails
// (the network's first ADD, a missing table, a leftover): it re-declares the table, chains and sets
// (idempotent "add") and rewrites the two fixed chains' rules (flush + add, identical content), so
// concurrent ADDs need no lock and never duplicate a rule; "add k; delete k; add k+comment" in one
// transaction replaces a leftover element of the same address (a container never deleted) with this
// owner's. Neither form lists the maps. DEL deletes its elements by key (the addresses state.ts
// recorded); only when that fails or there is no record does it list the maps and delete the elements
// whose comment carries the owner tag, so it needs neither the netns nor prevResult. Network-level
// objects (net_<h>, its subnet sets) stay when the last container leaves: they hold no container state.
import { createHash } from 'node:crypto'
import { CniError } from '../../pkg/errors/cni-error.js'
import { nftApply, nftList, elementsOf, type NftObject } from '../../pkg/firewall/nft.js'
import { NftBatch, type NftElement, type NftJson } from '../../pkg/firewall/nft-batch.js'
import { lookupSets, nfnlListRules, type ListedExpr } from '../../pkg/firewall/nft-netlink.js'
import { formatIp, networkOf, parseCidr, parseIp, type IpFamily } from '../../pkg/ip/cidr.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import type { Log } from '../../pkg/log/log.js'
import { commentOfNetwork, ownedBy, ownerOf, ownerTagOf, type Owner } from '../../pkg/owner/owner.js'

export const NAT_TABLE = 'berth_bridge'
const FAMILY = 'inet'
const POSTROUTING = 'postrouting'
const SRCNAT_PRIO = 100
const SRC_MAP: Record<IpFamily, string> = { 4: 'src4', 6: 'src6' }

/** The owner of a bridge attachment's NAT, spoof-check elements and host veth alias (no network tag). */
export interface MasqOwner extends Owner {
  /** the per-network chain and subnet sets' suffix */
  netHash: string
}

export function masqOwner(network: string, containerId: string, ifName: string): MasqOwner {
  return { ...ownerOf(network, containerId, ifName), netHash: createHash('sha256').update(network).digest('hex').slice(0, 12) }
}

/**
 * Whether an owner comment was made for `network`. The network name in a comment may have been cut to
 * fit; a cut name (the comment is then full length) matches every network it is a prefix of.
 */
export const ownerCommentOfNetwork = (comment: string | undefined, network: string): boolean => commentOfNetwork(comment, network)

/** The NAT map keys (addresses without prefix, canonical text) of a container's addresses. */
export const natKeys = (cidrs: readonly string[]): string[] => [...new Set(cidrs.map((c) => formatIp(parseCidr(c).bytes)))]

const netChain = (o: MasqOwner) => `net_${o.netHash}`
const dstSet = (o: MasqOwner, f: IpFamily) => `dst${f}_${o.netHash}`
const proto = (f: IpFamily) => (f === 4 ? 'ip' : 'ip6')
const field = (f: IpFamily, which: 'saddr' | 'daddr'): NftJson => ({ payload: { protocol: proto(f), field: which } })
const match = (left: NftJson, right: NftJson): NftJson => ({ match: { op: '==', left, right } })

/** The declarations every ADD repeats: table, fixed chains with their fixed rules, maps and sets. */
function declare(b: NftBatch, o: MasqOwner): void {
  const t = { family: FAMILY, table: NAT_TABLE } as const
  b.addTable(FAMILY, NAT_TABLE)
  for (const f of [4, 6] as const) {
    b.addMap({ ...t, name: SRC_MAP[f], type: f === 4 ? 'ipv4_addr' : 'ipv6_addr', map: 'verdict' })
    b.addSet({ ...t, name: dstSet(o, f), type: f === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: ['interval'] })
  }
  b.addChain({ ...t, name: POSTROUTING, type: 'nat', hook: 'postrouting', prio: SRCNAT_PRIO, policy: 'accept' })
  b.flushChain(FAMILY, NAT_TABLE, POSTROUTING)
  for (const f of [4, 6] as const) b.addRule({ ...t, chain: POSTROUTING, expr: [{ vmap: { key: field(f, 'saddr'), data: `@${SRC_MAP[f]}` } }] })
  const chain = netChain(o)
  b.addChain({ ...t, name: chain })
  b.flushChain(FAMILY, NAT_TABLE, chain)
  for (const f of [4, 6] as const) b.addRule({ ...t, chain, expr: [match(field(f, 'daddr'), `@${dstSet(o, f)}`), { return: null }] })
  b.addRule({ ...t, chain, expr: [match(field(4, 'daddr'), { prefix: { addr: '224.0.0.0', len: 4 } }), { return: null }] })
  b.addRule({ ...t, chain, expr: [match(field(6, 'daddr'), { prefix: { addr: 'ff00::', len: 8 } }), { return: null }] })
  b.addRule({ ...t, chain, expr: [{ masquerade: null }] })
}

/**
 * The ADD transaction for `cidrs` (the container's addresses with prefix). An element already holding one
 * of the addresses (a leftover of a container that was never deleted) is replaced: `listing` is the table
 * as it is now (its leftovers are deleted by key), or 'blind' to replace without looking: "add k" (a no-op
 * when k is there with the same verdict), "delete k", then the element with this owner's comment. A
 * leftover jumping to another network's chain makes the blind transaction fail (EEXIST): the caller then
 * lists and retries.
 */
export function setupMasqBatch(o: MasqOwner, cidrs: readonly string[], listing: readonly NftObject[] | undefined | 'blind'): NftBatch {
  const b = new NftBatch()
  declare(b, o)
  const jump: NftJson = { jump: { target: netChain(o) } }
  for (const f of [4, 6] as const) {
    const mine = cidrs.map(parseCidr).filter((n) => n.family === f)
    if (mine.length === 0) continue
    const keys = [...new Set(mine.map((n) => formatIp(n.bytes)))]
    if (listing === 'blind') {
      b.addElements(FAMILY, NAT_TABLE, SRC_MAP[f], keys.map((key): NftElement => ({ key, value: jump })))
      b.deleteElements(FAMILY, NAT_TABLE, SRC_MAP[f], keys)
    } else {
      const stale = (listing === undefined ? [] : (elementsOf(listing, SRC_MAP[f]) ?? [])).filter((e) => typeof e.key === 'string' && keys.includes(e.key))
      if (stale.length > 0) b.deleteElements(FAMILY, NAT_TABLE, SRC_MAP[f], stale)
    }
    b.addElements(FAMILY, NAT_TABLE, SRC_MAP[f], keys.map((key): NftElement => ({ key, value: jump, comment: o.comment })))
    b.addElements(FAMILY, NAT_TABLE, dstSet(o, f), mine.map(subnetElement))
  }
  return b
}

/**
 * The cheap ADD transaction: this container's map elements created (never replacing one), the network's
 * subnets added. It fails when the table, a map, the network's chain or set is missing, or an element of
 * the same address is there.
 */
export function createMasqElementsBatch(o: MasqOwner, cidrs: readonly string[]): NftBatch {
  const b = new NftBatch()
  const jump: NftJson = { jump: { target: netChain(o) } }
  for (const f of [4, 6] as const) {
    const mine = cidrs.map(parseCidr).filter((n) => n.family === f)
    if (mine.length === 0) continue
    const keys = [...new Set(mine.map((n) => formatIp(n.bytes)))]
    b.createElements(FAMILY, NAT_TABLE, SRC_MAP[f], keys.map((key): NftElement => ({ key, value: jump, comment: o.comment })))
    b.addElements(FAMILY, NAT_TABLE, dstSet(o, f), mine.map(subnetElement))
  }
  return b
}

const subnetElement = (n: ReturnType<typeof parseCidr>): NftElement => {
  const net = networkOf(n)
  return { key: { prefix: { addr: formatIp(net.bytes), len: net.prefixLen } } }
}

/** The DEL transaction: every element of src4/src6 whose comment starts with the owner's tag. */
export function teardownMasqBatch(o: MasqOwner, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  for (const f of [4, 6] as const) {
    const mine = (elementsOf(listing, SRC_MAP[f]) ?? []).filter((e) => ownedBy(e.comment, o))
    if (mine.length > 0) b.deleteElements(FAMILY, NAT_TABLE, SRC_MAP[f], mine)
  }
  return b
}

/** The DEL transaction by key: the elements of these addresses (it fails when one is missing). */
export function deleteMasqKeysBatch(keys: readonly string[]): NftBatch {
  const b = new NftBatch()
  for (const f of [4, 6] as const) {
    const mine = keys.filter((k) => parseIp(k).family === f)
    if (mine.length > 0) b.deleteElements(FAMILY, NAT_TABLE, SRC_MAP[f], mine)
  }
  return b
}

/**
 * Whether the two fixed chains hold the rules declare() writes, in shape: postrouting exactly the two vmap
 * lookups of src4 and src6; the network's chain exactly five rules, the first two the lookups of its
 * subnet sets, the last a masquerade. False when either chain (or the table) is missing.
 */
export function fixedChainsIntact(postrouting: readonly (readonly ListedExpr[])[], network: readonly (readonly ListedExpr[])[], o: MasqOwner): boolean {
  const lookupOf = (rule: readonly ListedExpr[] | undefined) => lookupSets(rule ?? [])[0]
  return (
    postrouting.length === 2 &&
    lookupOf(postrouting[0]) === SRC_MAP[4] &&
    lookupOf(postrouting[1]) === SRC_MAP[6] &&
    network.length === 5 &&
    lookupOf(network[0]) === dstSet(o, 4) &&
    lookupOf(network[1]) === dstSet(o, 6) &&
    (network[4]?.some((e) => e.name === 'masq') ?? false)
  )
}

function chainsIntact(ns: NetnsHandle | undefined, o: MasqOwner): boolean {
  try {
    return fixedChainsIntact(nfnlListRules(ns, FAMILY, NAT_TABLE, POSTROUTING), nfnlListRules(ns, FAMILY, NAT_TABLE, netChain(o)), o)
  } catch (e) {
    if (e instanceof CniError) return false // no table or chain yet
    throw e
  }
}

/**
 * Applies the ADD in `ns` (undefined: this thread's namespace, the host): the cheap transaction when the
 * fixed chains are intact, else (or when it fails) the full one blind (no listing, so the cost does not
 * grow with the containers present), listing only when that fails too.
 */
export function setupMasquerade(ns: NetnsHandle | undefined, o: MasqOwner, cidrs: readonly string[], log?: Log): void {
  if (chainsIntact(ns, o)) {
    try {
      nftApply(ns, createMasqElementsBatch(o, cidrs))
      return
    } catch (e) {
      if (!(e instanceof CniError)) throw e
      log?.debug(`NAT: creating the elements of ${cidrs.join(', ')} failed (${e.message}); replacing blind`)
    }
  }
  try {
    nftApply(ns, setupMasqBatch(o, cidrs, 'blind'))
    return
  } catch (e) {
    if (!(e instanceof CniError)) throw e
    log?.info(`NAT: adding ${cidrs.join(', ')} by key failed (${e.message}); replacing leftovers from a listing`)
  }
  nftApply(ns, setupMasqBatch(o, cidrs, nftList(ns, FAMILY, NAT_TABLE)))
}

/**
 * Removes the owner's elements: by key when `keys` (what ADD recorded, all still the owner's) are given
 * and that succeeds; otherwise from a listing, by owner comment. Nothing to do when the table is not there.
 */
export function teardownMasquerade(ns: NetnsHandle | undefined, o: MasqOwner, keys?: readonly string[], log?: Log): void {
  if (keys !== undefined) {
    if (keys.length === 0) return
    try {
      nftApply(ns, deleteMasqKeysBatch(keys))
      return
    } catch (e) {
      if (!(e instanceof CniError)) throw e
      log?.info(`NAT: deleting ${keys.join(', ')} by key failed (${e.message}); deleting by owner from a listing`)
    }
  }
  nftApply(ns, teardownMasqBatch(o, nftList(ns, FAMILY, NAT_TABLE)))
}

/**
 * The GC transaction for one network: elements of src4/src6 that jump to the network's chain and whose
 * owner tag belongs to none of the valid attachments.
 */
export function gcMasqBatch(network: string, valid: readonly { containerID: string; ifname: string }[], listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  const chain = netChain(masqOwner(network, '', ''))
  const keep = new Set(valid.map((v) => masqOwner(network, v.containerID, v.ifname).tag))
  for (const f of [4, 6] as const) {
    const stale = (elementsOf(listing, SRC_MAP[f]) ?? []).filter((e) => {
      const target = (e.value as { jump?: { target?: unknown } } | undefined)?.jump?.target
      return target === chain && !keep.has(ownerTagOf(e.comment))
    })
    if (stale.length > 0) b.deleteElements(FAMILY, NAT_TABLE, SRC_MAP[f], stale)
  }
  return b
}

/** Removes this network's elements that belong to no valid attachment. */
export function gcMasquerade(ns: NetnsHandle | undefined, network: string, valid: readonly { containerID: string; ifname: string }[]): void {
  nftApply(ns, gcMasqBatch(network, valid, nftList(ns, FAMILY, NAT_TABLE)))
}

// ---- CHECK: is everything ADD made still there? ----

/** What CHECK reports about an attachment, e.g. "container c1 eth0". */
export const attachmentLabel = (containerId: string, ifName: string): string => `container ${containerId} ${ifName}`

const NAT_NAME = `table ${FAMILY} ${NAT_TABLE}`
type ExprObj = { readonly [k: string]: NftJson }
const asObj = (e: NftJson): ExprObj | undefined => (typeof e === 'object' && e !== null && !Array.isArray(e) ? (e as ExprObj) : undefined)

/** The named object of a listing ({ chain: {...} }, { set: {...} }, { map: {...} }). */
export function listedObject(listing: readonly NftObject[], kind: string, name: string): { readonly [key: string]: NftJson } | undefined {
  return listing.map((o) => o[kind]).find((x) => x !== undefined && x['name'] === name)
}

/** The expressions of every rule of `chain` in a listing. */
export function chainExprs(listing: readonly NftObject[], chain: string): (readonly NftJson[])[] {
  return listing
    .map((o) => o['rule'])
    .filter((r) => r !== undefined && r['chain'] === chain)
    .map((r) => (Array.isArray(r!['expr']) ? (r!['expr'] as readonly NftJson[]) : []))
}

/**
 * The first thing missing from the NAT of `cidrs` (the attachment's addresses with prefix) in a listing of
 * table inet berth_bridge, or undefined when everything ADD made is there: the table, the postrouting
 * chain (hooked) with its vmap rule per family, the network's chain with its masquerade rule, the
 * network's subnet set per family, and one element per address with the owner's tag jumping to the
 * network's chain.
 */
export function checkMasqListing(o: MasqOwner, cidrs: readonly string[], listing: readonly NftObject[] | undefined, who: string): string | undefined {
  const fams = [...new Set(cidrs.map((c) => parseCidr(c).family))].sort()
  if (fams.length === 0) return undefined
  if (listing === undefined) return `NAT: ${NAT_NAME} does not exist (${who})`
  const post = listedObject(listing, 'chain', POSTROUTING)
  if (post === undefined || post['hook'] !== 'postrouting') return `NAT: ${NAT_NAME} has no chain ${POSTROUTING} hooked at postrouting (${who})`
  const chain = netChain(o)
  if (listedObject(listing, 'chain', chain) === undefined) return `NAT: ${NAT_NAME} has no chain ${chain} for network ${o.network} (${who})`
  if (!chainExprs(listing, chain).some((expr) => expr.some((e) => asObj(e) !== undefined && 'masquerade' in asObj(e)!))) {
    return `NAT: chain ${chain} of ${NAT_NAME} has no masquerade rule (${who})`
  }
  for (const f of fams) {
    const map = SRC_MAP[f]
    const vmap = chainExprs(listing, POSTROUTING).some((expr) => expr.some((e) => asObj(asObj(e)?.['vmap'] ?? null)?.['data'] === `@${map}`))
    if (!vmap) return `NAT: chain ${POSTROUTING} of ${NAT_NAME} has no rule "${proto(f)} saddr vmap @${map}" (${who})`
    if (listedObject(listing, 'set', dstSet(o, f)) === undefined) return `NAT: ${NAT_NAME} has no set ${dstSet(o, f)} for network ${o.network} (${who})`
    const elems = elementsOf(listing, map)
    if (elems === undefined) return `NAT: ${NAT_NAME} has no map ${map} (${who})`
    for (const c of cidrs) {
      const n = parseCidr(c)
      if (n.family !== f) continue
      const ip = formatIp(n.bytes)
      const el = elems.find((e) => e.key === ip)
      if (el === undefined) return `NAT: ${ip} is not in ${NAT_NAME} map ${map} (${who})`
      if (ownerTagOf(el.comment) !== o.tag) return `NAT: ${ip} in ${NAT_NAME} map ${map} belongs to another attachment ("${el.comment ?? ''}"), not ${who}`
      const target = asObj(asObj(el.value ?? null)?.['jump'] ?? null)?.['target']
      if (target !== chain) return `NAT: ${ip} in ${NAT_NAME} map ${map} jumps to ${typeof target === 'string' ? target : 'nothing'}, not ${chain} (${who})`
    }
  }
  return undefined
}

/** CHECK of the nftables NAT in `ns` (undefined: the host): the first thing missing, or undefined. */
export function checkMasquerade(ns: NetnsHandle | undefined, o: MasqOwner, cidrs: readonly string[], who: string): string | undefined {
  return checkMasqListing(o, cidrs, nftList(ns, FAMILY, NAT_TABLE), who)
}
