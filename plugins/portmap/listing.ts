// Reading the table back: a listing's port-map elements as entries, and who owns them (the owner tag
// is the first word of an element's comment). For conflicts, DEL and GC without records, and CHECK.
import { elementsOf, type NftObject } from '../../pkg/firewall/nft.js'
import type { NftElement, NftJson } from '../../pkg/firewall/nft-batch.js'
import { PROTOCOLS, type Protocol } from './config.js'
import { ALL_MAPS, ANY_ADDR, ANY_MAP, HAIRPIN, HAIRPIN_COMMENT, RANGES } from './layout.js'
import type { Entry } from './plan.js'

/** An element of the port maps read back from a listing. */
export interface ListedEntry extends Omit<Entry, 'containerPort'> {
  containerPort: number | undefined
  map: string
  element: NftElement
}

const PROTO_NUM: Record<number, Protocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' }

/** Reads the port maps' elements back into entries; elements of another shape are skipped. */
export function listedEntries(listing: readonly NftObject[]): ListedEntry[] {
  const out: ListedEntry[] = []
  for (const f of [4, 6] as const) {
    for (const map of ALL_MAPS(f)) {
      for (const el of elementsOf(listing, map) ?? []) {
        const parts = (el.key as { concat?: readonly NftJson[] } | null)?.concat
        if (!Array.isArray(parts)) continue
        // any<f> keys have no address: every local address.
        const [a, p, port] = (map === ANY_MAP[f] ? [{ prefix: { addr: ANY_ADDR[f], len: 0 } }, ...parts] : parts) as [NftJson, NftJson, NftJson]
        if (parts.length !== (map === ANY_MAP[f] ? 2 : 3)) continue
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
          const v = (el.value as { concat?: [string, NftJson] } | null)?.concat
          if (!Array.isArray(v)) continue
          containerIP = v[0]
          containerPort = portOf(v[1], lo)
          if (containerPort === undefined) continue
        }
        out.push({ family: f, hostIP, protocol, hostPort: lo, hostPortEnd: hi, containerIP, containerPort: containerPort ?? (map === RANGES[f] ? lo : undefined), map, element: el })
      }
    }
  }
  return out
}

/** A container port from map data: a port, or a shift element's window (host port lo goes to min + lo % size). */
function portOf(data: NftJson, lo: number): number | undefined {
  if (typeof data === 'number') return data
  const w = (data as { range?: [number, number] } | null)?.range
  if (!Array.isArray(w) || typeof w[0] !== 'number' || typeof w[1] !== 'number' || w[1] < w[0]) return undefined
  return w[0] + (lo % (w[1] - w[0] + 1))
}

export const ownerTagOf = (e: NftElement) => (e.comment ?? '').split(' ')[0] ?? ''
export const netTagOf = (e: NftElement) => (e.comment ?? '').split(' ')[1] ?? ''

/** The owner tags of every element of the table's maps and sets ('' for an element without comment). */
export function listedTags(listing: readonly NftObject[]): Set<string> {
  const tags = new Set<string>()
  for (const f of [4, 6] as const) for (const name of [...ALL_MAPS(f), HAIRPIN[f]]) for (const e of elementsOf(listing, name) ?? []) if (e.comment !== HAIRPIN_COMMENT) tags.add(ownerTagOf(e))
  return tags
}
