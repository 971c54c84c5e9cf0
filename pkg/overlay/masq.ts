// NAT for traffic leaving an overlay network's cluster CIDR: one masquerade per network (never per
// container), in berth's own table, so traffic between containers of the cluster keeps its addresses.
//
// Layout (family inet, table berth_overlay):
//   map nets4          cluster CIDR (interval) : jump net_<h>     one element per network, commented "net:<name>"
//   chain postrouting  nat hook postrouting prio srcnat: the one rule  ip saddr vmap @nets4
//   chain net_<h>      ip daddr <cluster CIDR> return; ip daddr 224.0.0.0/4 return; masquerade
//
// Every call re-declares the table, chains and the fixed rules (add, flush + add: identical content) in one
// transaction, so concurrent ADDs and agents need no lock and never duplicate a rule. Two networks with
// overlapping cluster CIDRs cannot both be in the interval map: the kernel refuses the second (CniError 7).
import { createHash } from 'node:crypto'
import { CniCode, CniError } from '../errors/cni-error.js'
import { elementsOf, nftApply, nftList } from '../firewall/nft.js'
import { NftBatch, type NftJson } from '../firewall/nft-batch.js'
import { formatIp, networkOf, parseCidr } from '../ip/cidr.js'
import type { NetnsHandle } from '../ns/netns.js'

export const OVERLAY_NAT_TABLE = 'berth_overlay'
const FAMILY = 'inet'
const MAP = 'nets4'
const POSTROUTING = 'postrouting'

const netChain = (network: string) => `net_${createHash('sha256').update(network).digest('hex').slice(0, 12)}`
const daddr: NftJson = { payload: { protocol: 'ip', field: 'daddr' } }
const prefixOf = (cidr: string): NftJson => {
  const n = networkOf(parseCidr(cidr))
  return { prefix: { addr: formatIp(n.bytes), len: n.prefixLen } }
}
const commentOf = (network: string) => `net:${network}`.slice(0, 120)

/**
 * The two transactions making sure `network`'s masquerade is in place (pure, for tests): declarations, then
 * the map element. libnftables 1.0.6 cannot resolve a verdict-map element's jump to a chain created in the
 * same JSON transaction (ENOENT), so the element goes in a second one.
 */
export function masqueradeBatches(network: string, clusterCidr: string): [NftBatch, NftBatch] {
  const t = { family: FAMILY, table: OVERLAY_NAT_TABLE } as const
  const chain = netChain(network)
  const b = new NftBatch()
  b.addTable(FAMILY, OVERLAY_NAT_TABLE)
  b.addMap({ ...t, name: MAP, type: 'ipv4_addr', map: 'verdict', flags: ['interval'] })
  b.addChain({ ...t, name: POSTROUTING, type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' })
  b.flushChain(FAMILY, OVERLAY_NAT_TABLE, POSTROUTING)
  b.addRule({ ...t, chain: POSTROUTING, expr: [{ vmap: { key: { payload: { protocol: 'ip', field: 'saddr' } }, data: `@${MAP}` } }] })
  b.addChain({ ...t, name: chain })
  b.flushChain(FAMILY, OVERLAY_NAT_TABLE, chain)
  b.addRule({ ...t, chain, expr: [{ match: { op: '==', left: daddr, right: prefixOf(clusterCidr) } }, { return: null }] })
  b.addRule({ ...t, chain, expr: [{ match: { op: '==', left: daddr, right: prefixOf('224.0.0.0/4') } }, { return: null }] })
  b.addRule({ ...t, chain, expr: [{ masquerade: null }] })
  const e = new NftBatch()
  e.addElements(FAMILY, OVERLAY_NAT_TABLE, MAP, [{ key: prefixOf(clusterCidr), value: { jump: { target: chain } }, comment: commentOf(network) }])
  return [b, e]
}

/** Whether the network's element is in the map already (so a rollback knows whether it added it). */
export function hasMasquerade(ns: NetnsHandle | undefined, network: string): boolean {
  const listing = nftList(ns, FAMILY, OVERLAY_NAT_TABLE)
  return (elementsOf(listing ?? [], MAP) ?? []).some((e) => e.comment === commentOf(network))
}

/** Idempotent; CniError 7 when another network's cluster CIDR overlaps this one on this host. */
export function setupMasquerade(ns: NetnsHandle | undefined, network: string, clusterCidr: string): void {
  const listing = nftList(ns, FAMILY, OVERLAY_NAT_TABLE)
  for (const e of elementsOf(listing ?? [], MAP) ?? []) {
    if (e.comment === commentOf(network)) continue
    if (overlaps(e.key, clusterCidr)) {
      throw new CniError(
        CniCode.InvalidConfig,
        `invalid network configuration: clusterCidr: ${clusterCidr} overlaps the cluster CIDR of overlay network ${(e.comment ?? '').replace(/^net:/, '')} on this host`,
        'clusterCidr: overlaps another overlay network',
      )
    }
  }
  for (const b of masqueradeBatches(network, clusterCidr)) nftApply(ns, b)
}

/** Removes the network's element and chain (ADD's rollback); the table goes with the last network; a missing table is fine. */
export function teardownMasquerade(ns: NetnsHandle | undefined, network: string): void {
  const listing = nftList(ns, FAMILY, OVERLAY_NAT_TABLE)
  if (listing === undefined) return
  const all = elementsOf(listing, MAP) ?? []
  const mine = all.filter((e) => e.comment === commentOf(network))
  const b = new NftBatch()
  // The last network out takes the table with it, so a host that never kept a network has no trace.
  if (mine.length === all.length) {
    nftApply(ns, b.deleteTable(FAMILY, OVERLAY_NAT_TABLE))
    return
  }
  if (mine.length > 0) b.deleteElements(FAMILY, OVERLAY_NAT_TABLE, MAP, mine)
  if (listing.some((o) => o['chain']?.['name'] === netChain(network))) b.deleteChain(FAMILY, OVERLAY_NAT_TABLE, netChain(network))
  nftApply(ns, b)
}

function overlaps(key: NftJson, cidr: string): boolean {
  const range = keyRange(key)
  if (range === undefined) return false
  const n = networkOf(parseCidr(cidr))
  const lo = toInt(n.bytes)
  const hi = lo + 2 ** (32 - n.prefixLen) - 1
  return range[0] <= hi && lo <= range[1]
}

/** An interval map key as libnftables lists it: {prefix: {addr, len}}, {range: [a, b]} or a bare address. */
function keyRange(key: NftJson): [number, number] | undefined {
  if (typeof key === 'string') {
    const v = toInt(parseCidr(`${key}/32`).bytes)
    return [v, v]
  }
  if (key === null || typeof key !== 'object' || Array.isArray(key)) return undefined
  const k = key as { readonly [x: string]: NftJson }
  const p = k['prefix'] as { addr?: NftJson; len?: NftJson } | undefined
  if (p !== undefined && typeof p.addr === 'string' && typeof p.len === 'number') {
    const lo = toInt(parseCidr(`${p.addr}/32`).bytes)
    return [lo, lo + 2 ** (32 - p.len) - 1]
  }
  const r = k['range']
  if (Array.isArray(r) && typeof r[0] === 'string' && typeof r[1] === 'string') return [toInt(parseCidr(`${r[0]}/32`).bytes), toInt(parseCidr(`${r[1]}/32`).bytes)]
  return undefined
}

const toInt = (b: Uint8Array) => (((b[0] ?? 0) << 24) >>> 0) + ((b[1] ?? 0) << 16) + ((b[2] ?? 0) << 8) + (b[3] ?? 0)
