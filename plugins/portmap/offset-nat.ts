// Mechanism: the DNAT rule that makes a shifted IPv4 port range (Docker's 8000-8010:80-90) one map element.
//
// nftables 1.0.6 has no syntax for the kernel's port-offset NAT (iptables' `--to-destination a:80-90/8000`,
// NF_NAT_RANGE_PROTO_OFFSET), and nft_nat has no attribute for the base port (a 2023 proposal,
// NFTA_NAT_REG_PROTO_BASE, is not in the kernel: 6.18 drops it unread). But nft_nat_init accepts the flag
// in NFTA_NAT_FLAGS, and nft_nat_eval leaves the base at 0, so the kernel maps port P to
// min + P % (max - min + 1): plan.ts offsetWindow picks a window where that is the container port.
// The rule is the one nft itself makes for
//   meta l4proto { tcp, udp, sctp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @shift4
// (a map whose data is an address and a port interval) plus the flag, so `nft list` and `nft -j list`
// print it (without the flag, which they do not know) and `nft -f` loads that listing again (without the
// flag: ensureOffsetNat puts it back); it is sent as hand-built netlink (pkg/firewall/nft-netlink.ts).
// Only the rule is; elements stay libnftables JSON. IPv4 only: layout.ts SHIFT4 says why.
//
// Installed once per table generation, in one transaction with the layout marker and the
// offset_nat_on marker. A kernel that refuses the rule (an older nft_nat without the flag in its mask)
// gets the marker alone: shifted ranges are then one element per port (plan.ts elementEntries).
import { CniError } from '../../pkg/errors/cni-error.js'
import { attrU32, NFT_REG_1, NFT_REG32, NfnlBatch, nfnlApply, nfnlListRules, hostU32, nx, type AnonymousSet } from '../../pkg/firewall/nft-netlink.js'
import { nftApplyScript } from '../../pkg/firewall/nft.js'
import { createLog } from '../../pkg/log/log.js'
import { LAYOUT_MARKER, OFFSET_NAT_MARKER, SHIFT4, SHIFT_CHAIN, TABLE } from './layout.js'
import { markerScript } from './nft.js'

const log = createLog('portmap')

const NF_NAT_RANGE_PROTO_OFFSET = 0x20
const NAT_FLAGS = 7 // NFTA_NAT_FLAGS
/** Test seam (integration tests only): a flag outside the kernel's NF_NAT_RANGE_MASK, so it refuses. */
export const REFUSE_ENV = 'BERTH_TEST_REFUSE_OFFSET_NAT'
const NOT_A_NAT_FLAG = 0x100

const META_NFPROTO = 15
const META_L4PROTO = 16
const FIB_RESULT_ADDRTYPE = 3
const FIB_F_DADDR = 2
const RTN_LOCAL = 2
const NETWORK_HEADER = 1
const TRANSPORT_HEADER = 2
const NFPROTO_IPV4 = 2
/** tcp, udp, sctp (config.ts PROTOCOLS), in an anonymous set of nft's type inet_proto. */
const L4PROTOS = [6, 17, 132]
const INET_PROTO_TYPE = 12

/**
 * The rule. Key in registers from REG_1, each field 4-byte aligned as nft lays out a concatenation:
 * address (REG32_00), l4proto (01), port (02). The lookup writes the data over it as nft stores
 * `addr . port-port` data, an interval's two ends: address min (00), port min (01), address max (02),
 * port max (03); the NAT reads them from there. (For IPv6 the same works in the kernel, with 16-byte
 * addresses; it is not used, see layout.ts SHIFT4.)
 */
export function offsetRule(flags: number, l4protos: AnonymousSet): Uint8Array[] {
  return [
    // As nft orders them; the protocol match also lets nft parse the listed rule again (`th dport`
    // needs one), so `nft list ruleset > f; nft -f f` works.
    nx.meta(META_L4PROTO, NFT_REG_1),
    nx.lookupAnonymous(l4protos, NFT_REG_1),
    nx.fib(FIB_RESULT_ADDRTYPE, FIB_F_DADDR, NFT_REG_1),
    nx.cmpEq(NFT_REG_1, hostU32(RTN_LOCAL)),
    nx.meta(META_NFPROTO, NFT_REG_1),
    nx.cmpEq(NFT_REG_1, Uint8Array.of(NFPROTO_IPV4)),
    nx.payload(NETWORK_HEADER, 16, 4, NFT_REG_1),
    nx.meta(META_L4PROTO, NFT_REG32(1)),
    nx.payload(TRANSPORT_HEADER, 2, 2, NFT_REG32(2)),
    nx.lookup(SHIFT4, NFT_REG_1, NFT_REG_1),
    nx.dnat(NFPROTO_IPV4, { addrMin: NFT_REG32(0), protoMin: NFT_REG32(1), addrMax: NFT_REG32(2), protoMax: NFT_REG32(3) }, flags),
  ]
}

/** The transaction: refill chain shifted_3, then the offset_nat_on marker and the layout marker. */
export function offsetNatBatch(gen: string, flags = NF_NAT_RANGE_PROTO_OFFSET): NfnlBatch {
  const b = new NfnlBatch().flushChain('inet', TABLE, SHIFT_CHAIN)
  const l4protos = b.addAnonymousSet('inet', TABLE, INET_PROTO_TYPE, 1, L4PROTOS.map((p) => Uint8Array.of(p)))
  b.addRule('inet', TABLE, SHIFT_CHAIN, offsetRule(flags, l4protos))
  return b.addChain('inet', TABLE, OFFSET_NAT_MARKER).addChain('inet', TABLE, `${LAYOUT_MARKER}${gen}`)
}

/**
 * Completes a table just declared (nft.ts declareScript): the offset DNAT rule and both markers, or, if
 * the kernel refuses it, the layout marker alone. Returns whether the rule is in place.
 */
export function installOffsetNat(gen: string, env: Readonly<Record<string, string | undefined>>): boolean {
  const flags = env[REFUSE_ENV] === '1' ? NF_NAT_RANGE_PROTO_OFFSET | NOT_A_NAT_FLAG : NF_NAT_RANGE_PROTO_OFFSET
  try {
    nfnlApply(undefined, offsetNatBatch(gen, flags))
    return true
  } catch (e) {
    if (!(e instanceof CniError)) throw e
    log.warn(`port-offset DNAT not available (${e.message}): shifted port ranges become one element per port`)
    nftApplyScript(undefined, markerScript(gen))
    return false
  }
}

/**
 * Whether chain shifted_3 holds its rule with the offset flag. `nft list` does not show the flag, so a
 * ruleset saved and restored with nft has the rule without it (then a shifted range reaches random ports
 * of its window): only the kernel's own dump tells.
 */
export function offsetNatIntact(): boolean {
  const rules = nfnlListRules(undefined, 'inet', TABLE, SHIFT_CHAIN)
  const flagged = rules.filter((r) => r.some((e) => e.name === 'nat' && ((attrU32(e.attrs.get(NAT_FLAGS)) ?? 0) & NF_NAT_RANGE_PROTO_OFFSET) !== 0))
  return rules.length === 1 && flagged.length === 1
}

/** Before an ADD of a shifted range: puts the rule back when it lost the flag (the markers are there). */
export function ensureOffsetNat(gen: string): void {
  if (offsetNatIntact()) return
  log.warn(`chain ${SHIFT_CHAIN} lost the port-offset flag of its DNAT rule (a ruleset restored with nft?): adding it again`)
  nfnlApply(undefined, offsetNatBatch(gen))
}
