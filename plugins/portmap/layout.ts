// The names of berth_portmap's objects (nft.ts declares them; README.md has the layout): shared by the
// modules that build, list and complete the table.
import type { IpFamily } from '../../pkg/ip/cidr.js'

export const TABLE = 'berth_portmap'
export const FAMILY = 'inet'
export const ANY_MAP: Record<IpFamily, string> = { 4: 'any4', 6: 'any6' }
export const HOST_MAP: Record<IpFamily, string> = { 4: 'host4', 6: 'host6' }
export const RANGES: Record<IpFamily, string> = { 4: 'ranges4', 6: 'ranges6' }
/**
 * Shifted IPv4 ranges (offset-nat.ts). No IPv6 twin: nft 1.0.6 lists a rule over such a map in a form it
 * cannot load again (its IPv6 registers read past the data: ENODATA on 6.18), so a saved ruleset would not
 * restore; IPv6 shifted ranges stay one hash element per port.
 */
export const SHIFT4 = 'shift4'
export const HAIRPIN: Record<IpFamily, string> = { 4: 'hairpin4', 6: 'hairpin6' }
/** The first layout's maps (interval, one element per port), kept in tables it made. */
export const LEGACY_PORTS: Record<IpFamily, string> = { 4: 'ports4', 6: 'ports6' }
export const LAYOUT_MARKER = 'layout_3_'
/** The marker of layout 2, which this one extends (shift maps, chain shifted_3). */
export const PREV_LAYOUT_MARKER = 'layout_2_'
export const GUARD_MARKER = 'guard_on'
/** Present when chain shifted_3 holds the offset DNAT rule (offset-nat.ts). */
export const OFFSET_NAT_MARKER = 'offset_nat_on'
export const ADDR_TYPE: Record<IpFamily, string> = { 4: 'ipv4_addr', 6: 'ipv6_addr' }
export const ANY_ADDR: Record<IpFamily, string> = { 4: '0.0.0.0', 6: '::' }
export const L3: Record<IpFamily, string> = { 4: 'ip', 6: 'ip6' }
export const NFPROTO: Record<IpFamily, string> = { 4: 'ipv4', 6: 'ipv6' }
export const DSTNAT = -100
export const SRCNAT = 100
export const RAW = -300
/** The maps whose elements are port mappings (this layout's and the first one's). */
export const ALL_MAPS = (f: IpFamily) => [ANY_MAP[f], HOST_MAP[f], RANGES[f], ...(f === 4 ? [SHIFT4] : []), LEGACY_PORTS[f]]

/**
 * This layout's chains. Their names differ from the first layout's (hostports, prerouting, output,
 * postrouting), whose chains keep serving its elements in a table it made, untouched: a first-layout
 * binary re-declaring its chains (flush + rules) then cannot remove this layout's rules either.
 */
export const CHAINS = { dnat: 'hostports_2', prerouting: 'prerouting_2', output: 'output_2', postrouting: 'postrouting_2' } as const
/** The chain of the hand-built offset DNAT rule (layout 3), jumped to from hostports_2. */
export const SHIFT_CHAIN = 'shifted_3'

/** The comment of hairpin elements: shared by every attachment of a subnet, so no owner tag (GC and purges skip them). */
export const HAIRPIN_COMMENT = 'berth-portmap shared hairpin'
