// Mechanism: port mappings as elements of berth's own nftables table, added and removed in one transaction.
//
// Layout (family inet, table berth_portmap); fixed objects, the same for every container:
//   map ports4/ports6    ipvX_addr . inet_proto . inet_service : ipvX_addr . inet_service   flags interval
//                        host address (a prefix /0 for "every address") . protocol . host port
//                        → container address . container port; one element per port
//   map ranges4/ranges6  same key : ipvX_addr                                               flags interval
//                        port ranges with equal host and container ports (8000-8010:8000-8010):
//                        one element per range, DNAT to the address keeps the port
//   set hairpin4/6       ipvX_addr . ipvX_addr  flags interval   source prefix . container address that
//                        must be masqueraded after DNAT: the container's own subnet (another container on
//                        the same bridge, or the container itself) and, for IPv4, 127.0.0.0/8 (the host
//                        through 127.0.0.1, with route_localnet on the container's host interface)
//   (fixed objects are written by declareScript, elements by NftBatch)
//   chain hostports      meta l4proto {tcp,udp,sctp} fib daddr type local dnat ip to
//                          ip daddr . meta l4proto . th dport map @ports4        (and @ranges4, ip6 ...)
//   chain prerouting     nat, prerouting, dstnat: jump hostports
//   chain output         nat, output, dstnat: jump hostports (the host's own connections)
//   chain postrouting    nat, postrouting, srcnat: ct status dnat ip saddr . ip daddr @hairpin4 masquerade
//   chain guard          filter, prerouting, raw: iifname != "lo" ip daddr 127.0.0.0/8 drop
//                        (rules only once an ADD turned route_localnet on, as Docker 28 does)
// Elements carry the comment "<owner tag> <network tag> net:<network> id:<container> if:<ifname>".
// DNAT only applies to packets addressed to the host itself (fib daddr type local), never to traffic
// that is routed through the host to another address (GHSA-jv3w-x3r3-g6rm).
import { elementsOf, nftApply, nftApplyScript, nftList, type NftObject } from '../../pkg/firewall/nft.js'
import { NftBatch, type NftElement, type NftJson } from '../../pkg/firewall/nft-batch.js'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import { parseCidr, formatIp, networkOf } from '../../pkg/ip/cidr.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { PROTOCOLS, type Protocol } from './config.js'
import { isSamePortRange, type Entry, type Owner } from './plan.js'

export const TABLE = 'berth_portmap'
const FAMILY = 'inet'
export const PORTS: Record<IpFamily, string> = { 4: 'ports4', 6: 'ports6' }
export const RANGES: Record<IpFamily, string> = { 4: 'ranges4', 6: 'ranges6' }
export const HAIRPIN: Record<IpFamily, string> = { 4: 'hairpin4', 6: 'hairpin6' }
const ADDR_TYPE: Record<IpFamily, string> = { 4: 'ipv4_addr', 6: 'ipv6_addr' }
const ANY: Record<IpFamily, string> = { 4: '0.0.0.0', 6: '::' }
const L3: Record<IpFamily, string> = { 4: 'ip', 6: 'ip6' }
const DSTNAT = -100
const SRCNAT = 100
const RAW = -300


/**
 * Table, maps, sets, chains and their fixed rules as an nft script, rewritten identically by every ADD
 * (add + flush + add rules, one transaction). A script rather than JSON: libnftables 1.0.6 crashes
 * (SIGSEGV) parsing a JSON dnat statement whose address is a map to a concatenation (address . port),
 * while its text parser handles it. Element changes, which carry comments, stay JSON (NftBatch).
 */
export function declareScript(opts: { guard: boolean }): string {
  const t = `inet ${TABLE}`
  const lines = [`add table ${t}`]
  for (const f of [4, 6] as const) {
    const key = `${ADDR_TYPE[f]} . inet_proto . inet_service`
    lines.push(`add map ${t} ${PORTS[f]} { type ${key} : ${ADDR_TYPE[f]} . inet_service; flags interval; }`)
    lines.push(`add map ${t} ${RANGES[f]} { type ${key} : ${ADDR_TYPE[f]}; flags interval; }`)
    lines.push(`add set ${t} ${HAIRPIN[f]} { type ${ADDR_TYPE[f]} . ${ADDR_TYPE[f]}; flags interval; }`)
  }
  lines.push(`add chain ${t} hostports`)
  lines.push(`add chain ${t} prerouting { type nat hook prerouting priority ${DSTNAT}; policy accept; }`)
  lines.push(`add chain ${t} output { type nat hook output priority ${DSTNAT}; policy accept; }`)
  lines.push(`add chain ${t} postrouting { type nat hook postrouting priority ${SRCNAT}; policy accept; }`)
  lines.push(`add chain ${t} guard { type filter hook prerouting priority ${RAW}; policy accept; }`)
  for (const chain of ['hostports', 'prerouting', 'output', 'postrouting']) lines.push(`flush chain ${t} ${chain}`)
  for (const f of [4, 6] as const) {
    for (const map of [PORTS[f], RANGES[f]]) {
      lines.push(`add rule ${t} hostports meta l4proto { ${PROTOCOLS.join(', ')} } fib daddr type local dnat ${L3[f]} to ${L3[f]} daddr . meta l4proto . th dport map @${map}`)
    }
  }
  for (const chain of ['prerouting', 'output']) lines.push(`add rule ${t} ${chain} jump hostports`)
  for (const f of [4, 6] as const) lines.push(`add rule ${t} postrouting ct status dnat ${L3[f]} saddr . ${L3[f]} daddr @${HAIRPIN[f]} masquerade`)
  if (opts.guard) {
    lines.push(`flush chain ${t} guard`)
    lines.push(`add rule ${t} guard iifname != "lo" ip daddr 127.0.0.0/8 drop`)
  }
  return lines.join('\n') + '\n'
}

/** An entry as a map element of ports<f> or ranges<f>. */
export function entryElement(e: Entry, comment: string): { map: string; elem: NftElement } {
  const addr: NftJson = e.hostIP === undefined ? { prefix: { addr: ANY[e.family], len: 0 } } : e.hostIP
  if (isSamePortRange(e)) {
    return { map: RANGES[e.family], elem: { key: { concat: [addr, e.protocol, { range: [e.hostPort, e.hostPortEnd] }] }, value: e.containerIP, comment } }
  }
  return { map: PORTS[e.family], elem: { key: { concat: [addr, e.protocol, e.hostPort] }, value: { concat: [e.containerIP, e.containerPort] }, comment } }
}

/** The hairpin elements of a container address: its subnet, and 127.0.0.0/8 when IPv4 localhost is published. */
export function hairpinElements(cidr: string, localhost: boolean, comment: string): { set: string; elem: NftElement }[] {
  const n = parseCidr(cidr)
  const ip = formatIp(n.bytes)
  const net = networkOf(n)
  const out = [{ set: HAIRPIN[n.family], elem: { key: { concat: [{ prefix: { addr: formatIp(net.bytes), len: net.prefixLen } }, ip] }, comment } }]
  if (localhost && n.family === 4) out.push({ set: HAIRPIN[4], elem: { key: { concat: [{ prefix: { addr: '127.0.0.0', len: 8 } }, ip] }, comment } })
  return out
}

/** An element of ports/ranges read back from a listing. */
export interface ListedEntry extends Omit<Entry, 'containerPort'> {
  containerPort: number | undefined
  map: string
  element: NftElement
}

const PROTO_NUM: Record<number, Protocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' }

/** Reads ports<f>/ranges<f> elements back into entries; elements of another shape are skipped. */
export function listedEntries(listing: readonly NftObject[]): ListedEntry[] {
  const out: ListedEntry[] = []
  for (const f of [4, 6] as const) {
    for (const map of [PORTS[f], RANGES[f]]) {
      for (const el of elementsOf(listing, map) ?? []) {
        const parts = (el.key as { concat?: readonly NftJson[] } | null)?.concat
        if (!Array.isArray(parts) || parts.length !== 3) continue
        const [a, p, port] = parts as [NftJson, NftJson, NftJson]
        let hostIP: string | undefined
        if (typeof a === 'string') hostIP = a
        else if ((a as { prefix?: { len?: number } })?.prefix?.len !== 0) continue
        const protocol = typeof p === 'number' ? PROTO_NUM[p] : (p as Protocol)
        if (protocol === undefined || !PROTOCOLS.includes(protocol)) continue
        let lo: number
        let hi: number
        if (typeof port === 'number') lo = hi = port
        else {
          const r = (port as { range?: [number, number] })?.range
          if (!Array.isArray(r)) continue
          ;[lo, hi] = r
        }
        let containerIP: string
        let containerPort: number | undefined
        if (typeof el.value === 'string') containerIP = el.value
        else {
          const v = (el.value as { concat?: [string, number] } | null)?.concat
          if (!Array.isArray(v)) continue
          containerIP = v[0]
          containerPort = v[1]
        }
        out.push({ family: f, hostIP, protocol, hostPort: lo, hostPortEnd: hi, containerIP, containerPort: containerPort ?? (map === RANGES[f] ? lo : undefined), map, element: el })
      }
    }
  }
  return out
}

const tagOf = (e: NftElement) => (e.comment ?? '').split(' ')[0] ?? ''
const netTagOf = (e: NftElement) => (e.comment ?? '').split(' ')[1] ?? ''

/** Deletes, in `b`, every element of the table's maps and sets that `pick` selects. Returns how many. */
function deleteWhere(b: NftBatch, listing: readonly NftObject[] | undefined, pick: (e: NftElement) => boolean): NftElement[] {
  if (listing === undefined) return []
  const gone: NftElement[] = []
  for (const f of [4, 6] as const) {
    for (const name of [PORTS[f], RANGES[f], HAIRPIN[f]]) {
      const mine = (elementsOf(listing, name) ?? []).filter(pick)
      if (mine.length > 0) b.deleteElements(FAMILY, TABLE, name, mine.map(({ key }) => ({ key })))
      gone.push(...mine)
    }
  }
  return gone
}

export interface AddPlan {
  entries: readonly Entry[]
  hairpin: readonly { set: string; elem: NftElement }[]
  guard: boolean
}

/**
 * The ADD transaction (after declareScript): removal of the owner's previous elements (a repeated ADD) and of
 * hairpin elements of the same key (leftovers of a container never deleted), then the new elements.
 */
export function addBatch(o: Owner, plan: AddPlan, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  const hairpinKeys = new Set(plan.hairpin.map((h) => JSON.stringify(h.elem.key)))
  deleteWhere(b, listing, (e) => tagOf(e) === o.tag || (hairpinKeys.has(JSON.stringify(e.key)) && Array.isArray((e.key as { concat?: unknown }).concat)))
  const byMap = new Map<string, NftElement[]>()
  for (const e of plan.entries) {
    const { map, elem } = entryElement(e, o.comment)
    byMap.set(map, [...(byMap.get(map) ?? []), elem])
  }
  for (const h of plan.hairpin) byMap.set(h.set, [...(byMap.get(h.set) ?? []), h.elem])
  for (const [name, elems] of byMap) b.addElements(FAMILY, TABLE, name, elems)
  return b
}

/** The DEL transaction: the owner's elements. Also returns what they were (for conntrack). */
export function delBatch(o: Owner, listing: readonly NftObject[] | undefined): { batch: NftBatch; removed: ListedEntry[] } {
  const b = new NftBatch()
  const removed = listing === undefined ? [] : listedEntries(listing).filter((e) => tagOf(e.element) === o.tag)
  deleteWhere(b, listing, (e) => tagOf(e) === o.tag)
  return { batch: b, removed }
}

/** The GC transaction: elements of the network whose owner is none of `keepTags`. */
export function gcBatch(netTag: string, keepTags: ReadonlySet<string>, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  deleteWhere(b, listing, (e) => netTagOf(e) === netTag && !keepTags.has(tagOf(e)))
  return b
}

export const ownerTagOf = tagOf

export const listTable = (ns: NetnsHandle | undefined) => nftList(ns, FAMILY, TABLE)
export const apply = (ns: NetnsHandle | undefined, b: NftBatch) => nftApply(ns, b)
export const declareFixed = (ns: NetnsHandle | undefined, guard: boolean) => nftApplyScript(ns, declareScript({ guard }))
