// Mechanism: the DNAT rules that make a shifted port range (Docker's 8000-8010:80-90) one map element.
//
// nftables 1.0.6 has no syntax for the kernel's port-offset NAT (iptables' `--to-destination a:80-90/8000`,
// NF_NAT_RANGE_PROTO_OFFSET), and nft_nat has no attribute for the base port (a 2023 proposal,
// NFTA_NAT_REG_PROTO_BASE, is not in the kernel: 6.18 drops it unread). But nft_nat_init accepts the flag
// in NFTA_NAT_FLAGS, and nft_nat_eval leaves the base at 0, so the kernel maps port P to
// min + P % (max - min + 1): plan.ts offsetWindow picks a window where that is the container port.
// The rule is the one nft itself makes for
//   fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @shift4
// (a map whose data is an address and a port interval) plus the flag, so `nft list` and `nft -j list`
// print it (without the flag, which they do not know); it is sent as hand-built netlink
// (pkg/firewall/nft-netlink.ts). Only the two rules are; elements stay libnftables JSON.
//
// Installed once per table generation, in one transaction with the layout marker and the
// offset_nat_on marker. A kernel that refuses the rule (an older nft_nat without the flag in its mask)
// gets the marker alone: shifted ranges are then one element per port (plan.ts elementEntries).
import { CniError } from '../../pkg/errors/cni-error.js'
import { NFT_REG_1, NFT_REG32, NfnlBatch, nfnlApply, hostU32, nx } from '../../pkg/firewall/nft-netlink.js'
import { nftApplyScript } from '../../pkg/firewall/nft.js'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import { createLog } from '../../pkg/log/log.js'
import { LAYOUT_MARKER, OFFSET_NAT_MARKER, SHIFT, SHIFT_CHAIN, TABLE } from './layout.js'
import { markerScript } from './nft.js'

const log = createLog('portmap')

const NF_NAT_RANGE_PROTO_OFFSET = 0x20
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
const NFPROTO: Record<IpFamily, number> = { 4: 2, 6: 10 }

/**
 * One family's rule. Key in registers from REG_1: address, l4proto, port (each field 4-byte aligned, as nft
 * lays out a concatenation). The lookup writes the data over it: address min, port min, address max,
 * port max (an interval's two ends, as nft stores `addr . port-port` data); the NAT reads them from there.
 */
export function offsetRule(f: IpFamily, flags: number): Uint8Array[] {
  const words = f === 4 ? 1 : 4
  return [
    nx.meta(META_NFPROTO, NFT_REG_1),
    nx.cmpEq(NFT_REG_1, Uint8Array.of(NFPROTO[f])),
    nx.fib(FIB_RESULT_ADDRTYPE, FIB_F_DADDR, NFT_REG_1),
    nx.cmpEq(NFT_REG_1, hostU32(RTN_LOCAL)),
    nx.payload(NETWORK_HEADER, f === 4 ? 16 : 24, words * 4, NFT_REG_1),
    nx.meta(META_L4PROTO, NFT_REG32(words)),
    nx.payload(TRANSPORT_HEADER, 2, 2, NFT_REG32(words + 1)),
    nx.lookup(SHIFT[f], NFT_REG_1, NFT_REG_1),
    nx.dnat(NFPROTO[f], { addrMin: NFT_REG32(0), protoMin: NFT_REG32(words), addrMax: NFT_REG32(words + 1), protoMax: NFT_REG32(2 * words + 1) }, flags),
  ]
}

/** The transaction: refill chain shifted_3, then the offset_nat_on marker and the layout marker. */
export function offsetNatBatch(gen: string, flags = NF_NAT_RANGE_PROTO_OFFSET): NfnlBatch {
  const b = new NfnlBatch().flushChain('inet', TABLE, SHIFT_CHAIN)
  for (const f of [4, 6] as const) b.addRule('inet', TABLE, SHIFT_CHAIN, offsetRule(f, flags))
  return b.addChain('inet', TABLE, OFFSET_NAT_MARKER).addChain('inet', TABLE, `${LAYOUT_MARKER}${gen}`)
}

/**
 * Completes a table just declared (nft.ts declareScript): the offset DNAT rules and both markers, or, if
 * the kernel refuses them, the layout marker alone. Returns whether the rules are in place.
 */
export function installOffsetNat(gen: string): boolean {
  const flags = process.env[REFUSE_ENV] === '1' ? NF_NAT_RANGE_PROTO_OFFSET | NOT_A_NAT_FLAG : NF_NAT_RANGE_PROTO_OFFSET
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
