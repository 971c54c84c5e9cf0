// Mechanism: port mappings as elements of berth's own nftables table, added and removed in one transaction.
//
// Layout (family inet, table berth_portmap); fixed objects, the same for every container:
//   map any4/any6        inet_proto . inet_service : ipvX_addr . inet_service        (hash)
//                        protocol . host port on every local address → container address . port
//   map host4/host6      ipvX_addr . inet_proto . inet_service : ipvX_addr . inet_service   (hash)
//                        the same on one host address (hostIP)
//   map ranges4/ranges6  ipvX_addr . inet_proto . inet_service : ipvX_addr          flags interval
//                        port ranges with equal host and container ports (8000-8010:8000-8010), host
//                        address or a /0 prefix: one element per range, DNAT to the address keeps the port
//   set hairpin4/6       ipvX_addr . ipvX_addr  flags interval   source prefix . destination prefix that
//                        must be masqueraded after DNAT: a container subnet to itself (another container
//                        on the same bridge, or the container itself) and, for IPv4, 127.0.0.0/8 to it
//                        (the host through 127.0.0.1, with route_localnet on the container's host
//                        interface); one element per subnet, shared by its attachments (records.ts
//                        counts them), so the interval set stays small
//   map shift4           ipv4_addr . inet_proto . inet_service : interval ipv4_addr . inet_service
//                        flags interval; a shifted IPv4 range (8000-8010:80-90) as one element whose data
//                        is the container address and a port window (offset-nat.ts, plan.ts offsetWindow);
//                        no shift6 (layout.ts says why): IPv6 shifted ranges are one element per port
//   chain hostports_2    meta l4proto {tcp,udp,sctp} fib daddr type local dnat ip to
//                          meta l4proto . th dport map @any4         (and @host4, @ranges4, ip6 ...);
//                        jump shifted_3
//   chain shifted_3      meta l4proto {tcp,udp,sctp} fib daddr type local dnat ip to ip daddr . meta
//                          l4proto . th dport map @shift4, with the port-offset flag: hand-built netlink
//                        (offset-nat.ts); empty when the kernel refused it; the empty chain
//                        offset_nat_on says the rule is there
//   chain prerouting_2   nat, prerouting, dstnat: jump hostports_2
//   chain output_2       nat, output, dstnat: jump hostports_2 (the host's own connections)
//   chain postrouting_2  nat, postrouting, srcnat: ct status dnat ip saddr . ip daddr @hairpin4 masquerade
//   chain guard          filter, prerouting, raw: iifname != "lo" ip daddr 127.0.0.0/8 drop
//                        (rules only once an ADD turned route_localnet on, as Docker 28 does; the empty
//                        chain guard_on marks that they are there)
//   chain layout_3_<gen> empty: marks the layout version and names this table's generation, which the
//                        on-disk records (records.ts) must match; `list chains` reads it cheaply. A table
//                        of layout 2 (layout_2_<gen>: no shift maps) is upgraded in place (sync.ts),
//                        keeping its generation and both markers
// Single ports (the common case) live in hash maps: adding or deleting one costs the same however many
// mappings exist, while libnftables loads a whole interval set to change it. Tables made by the first
// layout (maps ports4/ports6, interval; chains without the _2) keep those maps and chains ("legacy").
// Object names: layout.ts; reading a listing back: listing.ts; the offset DNAT rules: offset-nat.ts.
// Elements carry the comment "<owner tag> <network tag> net:<network> id:<container> if:<ifname>".
// DNAT only applies to packets addressed to the host itself (fib daddr type local), never to traffic
// that is routed through the host to another address (GHSA-jv3w-x3r3-g6rm).
import { elementsOf, nftApply, nftApplyScript, nftList, nftListChains, type NftObject } from '../../pkg/firewall/nft.js'
import { NftBatch, type NftElement, type NftJson } from '../../pkg/firewall/nft-batch.js'
import { parseCidr, formatIp, networkOf } from '../../pkg/ip/cidr.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { PROTOCOLS } from './config.js'
import { describeEntry, isSamePortRange, isShiftedRange, offsetWindow, type Entry, type Owner } from './plan.js'
import { ADDR_TYPE, ALL_MAPS, ANY_ADDR, ANY_MAP, CHAINS, DSTNAT, FAMILY, GUARD_MARKER, HAIRPIN, HAIRPIN_COMMENT, HOST_MAP, L3, LAYOUT_MARKER, NFPROTO, OFFSET_NAT_MARKER, PREV_LAYOUT_MARKER, RANGES, RAW, SHIFT4, SHIFT_CHAIN, SRCNAT, TABLE } from './layout.js'
import { listedEntries, netTagOf, ownerTagOf, type ListedEntry } from './listing.js'

export * from './layout.js'
export { listedEntries, listedTags, ownerTagOf, type ListedEntry } from './listing.js'

/**
 * Table, maps, sets, chains and their fixed rules as an nft script (add + flush + add rules, one
 * transaction), applied when the table or its layout marker is missing. Without the marker: offset-nat.ts
 * adds it next, with the rules libnftables cannot make (or without them). A script rather than JSON:
 * libnftables 1.0.6 crashes (SIGSEGV) parsing a JSON dnat statement whose address is a map to a
 * concatenation (address . port), while its text parser handles it. Element changes, which carry
 * comments, stay JSON (NftBatch).
 */
export function declareScript(): string {
  const t = `inet ${TABLE}`
  const c = CHAINS
  const lines = [`add table ${t}`]
  for (const f of [4, 6] as const) {
    const a = ADDR_TYPE[f]
    lines.push(`add map ${t} ${ANY_MAP[f]} { type inet_proto . inet_service : ${a} . inet_service; }`)
    lines.push(`add map ${t} ${HOST_MAP[f]} { type ${a} . inet_proto . inet_service : ${a} . inet_service; }`)
    lines.push(`add map ${t} ${RANGES[f]} { type ${a} . inet_proto . inet_service : ${a}; flags interval; }`)
    lines.push(`add set ${t} ${HAIRPIN[f]} { type ${a} . ${a}; flags interval; }`)
  }
  lines.push(`add map ${t} ${SHIFT4} { type ipv4_addr . inet_proto . inet_service : interval ipv4_addr . inet_service; flags interval; }`)
  lines.push(`add chain ${t} ${c.dnat}`)
  lines.push(`add chain ${t} ${SHIFT_CHAIN}`)
  lines.push(`add chain ${t} ${c.prerouting} { type nat hook prerouting priority ${DSTNAT}; policy accept; }`)
  lines.push(`add chain ${t} ${c.output} { type nat hook output priority ${DSTNAT}; policy accept; }`)
  lines.push(`add chain ${t} ${c.postrouting} { type nat hook postrouting priority ${SRCNAT}; policy accept; }`)
  lines.push(`add chain ${t} guard { type filter hook prerouting priority ${RAW}; policy accept; }`)
  for (const chain of Object.values(c)) lines.push(`flush chain ${t} ${chain}`)
  const local = `meta l4proto { ${PROTOCOLS.join(', ')} } fib daddr type local`
  for (const f of [4, 6] as const) {
    const l3 = L3[f]
    lines.push(`add rule ${t} ${c.dnat} meta nfproto ${NFPROTO[f]} ${local} dnat ${l3} to meta l4proto . th dport map @${ANY_MAP[f]}`)
    for (const map of [HOST_MAP[f], RANGES[f]]) lines.push(`add rule ${t} ${c.dnat} ${local} dnat ${l3} to ${l3} daddr . meta l4proto . th dport map @${map}`)
  }
  lines.push(`add rule ${t} ${c.dnat} jump ${SHIFT_CHAIN}`)
  for (const chain of [c.prerouting, c.output]) lines.push(`add rule ${t} ${chain} jump ${c.dnat}`)
  for (const f of [4, 6] as const) lines.push(`add rule ${t} ${c.postrouting} ct status dnat ${L3[f]} saddr . ${L3[f]} daddr @${HAIRPIN[f]} masquerade`)
  return lines.join('\n') + '\n'
}

/** The layout marker alone, for a table whose offset DNAT rules the kernel refused. */
export const markerScript = (gen: string): string => `add chain inet ${TABLE} ${LAYOUT_MARKER}${gen}\n`

/** Adds, in `b`, the guard rule (127.0.0.0/8 only from lo) and its marker chain. */
export function addGuard(b: NftBatch): NftBatch {
  b.addChain({ family: FAMILY, table: TABLE, name: GUARD_MARKER })
  b.flushChain(FAMILY, TABLE, 'guard')
  b.addRule({
    family: FAMILY,
    table: TABLE,
    chain: 'guard',
    expr: [
      { match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'lo' } },
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '127.0.0.0', len: 8 } } } },
      { drop: null },
    ],
  })
  return b
}

/** What `list chains` tells about the table: whether it exists, its layout generation, the guard. */
export interface TableState {
  exists: boolean
  /** the generation of a table of the current layout; undefined: missing or an older layout */
  gen: string | undefined
  /** the generation of a table of layout 2 (upgraded in place by syncLayout) */
  prevGen: string | undefined
  guard: boolean
  /** the offset DNAT rules are in place: a shifted range is one element (else one per port) */
  offsetNat: boolean
}

/** Reads TableState from chain names only: unlike listing the table, this does not load any element. */
export function tableState(ns: NetnsHandle | undefined): TableState {
  const names = nftListChains(ns, FAMILY)
    .filter((c) => c.table === TABLE)
    .map((c) => c.name)
  const marker = names.find((n) => n.startsWith(LAYOUT_MARKER))
  const prev = names.find((n) => n.startsWith(PREV_LAYOUT_MARKER))
  return {
    exists: names.length > 0,
    gen: marker?.slice(LAYOUT_MARKER.length),
    prevGen: prev?.slice(PREV_LAYOUT_MARKER.length),
    guard: names.includes(GUARD_MARKER),
    offsetNat: names.includes(OFFSET_NAT_MARKER),
  }
}

/**
 * An entry as a map element: any<f> or host<f> for one port, ranges<f> for a same-port range, shift<f> for
 * a shifted range (only given whole by elementEntries when the table has the offset DNAT rules).
 */
export function entryElement(e: Entry, comment: string): { set: string; elem: NftElement } {
  const addr: NftJson = e.hostIP === undefined ? { prefix: { addr: ANY_ADDR[e.family], len: 0 } } : e.hostIP
  const key = { concat: [addr, e.protocol, { range: [e.hostPort, e.hostPortEnd] }] }
  if (isSamePortRange(e)) return { set: RANGES[e.family], elem: { key, value: e.containerIP, comment } }
  if (isShiftedRange(e)) {
    const w = offsetWindow(e)
    if (w === undefined || e.family !== 4) throw new Error(`internal: ${describeEntry(e)} cannot be one element; split it (elementEntries)`)
    return { set: SHIFT4, elem: { key, value: { concat: [e.containerIP, { range: [w.min, w.max] }] }, comment } }
  }
  const value = { concat: [e.containerIP, e.containerPort] }
  if (e.hostIP === undefined) return { set: ANY_MAP[e.family], elem: { key: { concat: [e.protocol, e.hostPort] }, value, comment } }
  return { set: HOST_MAP[e.family], elem: { key: { concat: [e.hostIP, e.protocol, e.hostPort] }, value, comment } }
}


/** A hairpin element and its name among the records (records.ts counts its users). */
export interface HairpinElement {
  name: string
  set: string
  elem: NftElement
}

/**
 * The hairpin elements of a container address: its subnet to its subnet, and 127.0.0.0/8 to its subnet
 * when IPv4 localhost is published. One element per subnet, whatever the number of containers: the set
 * has interval flags (prefixes), and libnftables loads a whole interval set to change it.
 */
export function hairpinElements(cidr: string, localhost: boolean): HairpinElement[] {
  const n = parseCidr(cidr)
  const net = networkOf(n)
  const subnet = { prefix: { addr: formatIp(net.bytes), len: net.prefixLen } }
  const text = `${formatIp(net.bytes)}_${net.prefixLen}`
  const out = [{ name: `${n.family}-${text}-${text}`, set: HAIRPIN[n.family], elem: { key: { concat: [subnet, subnet] }, comment: HAIRPIN_COMMENT } }]
  if (localhost && n.family === 4) out.push({ name: `4-127.0.0.0_8-${text}`, set: HAIRPIN[4], elem: { key: { concat: [{ prefix: { addr: '127.0.0.0', len: 8 } }, subnet] }, comment: HAIRPIN_COMMENT } })
  return out
}


/** Deletes, in `b`, every element of the table's maps and sets that `pick` selects. Returns them. */
function deleteWhere(b: NftBatch, listing: readonly NftObject[] | undefined, pick: (e: NftElement) => boolean): NftElement[] {
  if (listing === undefined) return []
  const gone: NftElement[] = []
  for (const f of [4, 6] as const) {
    for (const name of [...ALL_MAPS(f), HAIRPIN[f]]) {
      const mine = (elementsOf(listing, name) ?? []).filter(pick)
      if (mine.length > 0) b.deleteElements(FAMILY, TABLE, name, mine.map(({ key }) => ({ key })))
      gone.push(...mine)
    }
  }
  return gone
}

/** The map elements of an attachment's entries, with the owner's comment. */
export function attachmentElements(o: Owner, entries: readonly Entry[]): { set: string; elem: NftElement }[] {
  return entries.map((e) => entryElement(e, o.comment))
}

/** The ADD transaction: the elements (grouped by map) and, when asked, the guard. */
export function addBatch(elements: readonly { set: string; elem: NftElement }[], guard: boolean): NftBatch {
  const b = new NftBatch()
  const byMap = new Map<string, NftElement[]>()
  for (const { set, elem } of elements) byMap.set(set, [...(byMap.get(set) ?? []), elem])
  for (const [name, elems] of byMap) b.addElements(FAMILY, TABLE, name, elems)
  if (guard) addGuard(b)
  return b
}

/** Deletes exactly these elements by key (fails as a whole when one is gone: then list, purgeBatch). */
export function deleteKeysBatch(elements: readonly { set: string; elem: NftElement }[]): NftBatch {
  const b = new NftBatch()
  const byMap = new Map<string, NftJson[]>()
  for (const { set, elem } of elements) byMap.set(set, [...(byMap.get(set) ?? []), elem.key])
  for (const [name, keys] of byMap) b.deleteElements(FAMILY, TABLE, name, keys.map((key) => ({ key })))
  return b
}

/**
 * From a listing: the owner's elements (the first layout also tagged hairpin elements per container).
 * Used where no record says what an attachment added (tables of the first layout, lost records) and
 * when a delete by key failed.
 */
export function purgeBatch(tag: string, listing: readonly NftObject[] | undefined): { batch: NftBatch; removed: ListedEntry[] } {
  const b = new NftBatch()
  const removed = listing === undefined ? [] : listedEntries(listing).filter((e) => ownerTagOf(e.element) === tag)
  deleteWhere(b, listing, (e) => ownerTagOf(e) === tag)
  return { batch: b, removed }
}

/** The DEL transaction found by listing: the owner's elements. Also returns what they were (for conntrack). */
export const delBatch = (o: Owner, listing: readonly NftObject[] | undefined) => purgeBatch(o.tag, listing)

/** The GC transaction: elements of the network whose owner is none of `keepTags`. */
export function gcBatch(netTag: string, keepTags: ReadonlySet<string>, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  deleteWhere(b, listing, (e) => netTagOf(e) === netTag && !keepTags.has(ownerTagOf(e)))
  return b
}


export const listTable = (ns: NetnsHandle | undefined) => nftList(ns, FAMILY, TABLE)
export const apply = (ns: NetnsHandle | undefined, b: NftBatch) => nftApply(ns, b)
export const declareFixed = (ns: NetnsHandle | undefined) => nftApplyScript(ns, declareScript())
