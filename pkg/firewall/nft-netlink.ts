// Hand-built nf_tables netlink messages, for the few objects libnftables (1.0.6) cannot express: an
// expression attribute its parser has no syntax for (portmap's DNAT with NF_NAT_RANGE_PROTO_OFFSET).
// Everything else stays libnftables (nft.ts). A batch (NFNL_MSG_BATCH_BEGIN … END) is one transaction:
// the kernel commits all its messages or none. The bytes are built here; the addon's nfnlTransact sends
// them on a NETLINK_NETFILTER socket opened in the namespace withNetnsSync enters.
// nfnlListRules reads a chain's rules back with what libnftables' listing drops (flags it has no name for).
// References: include/uapi/linux/netfilter/nf_tables.h and nfnetlink.h (numbers below), netlink(7).
import { endianness } from 'node:os'
import { native } from '../../native/index.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errnoName } from '../errors/sys-error.js'
import { createLog } from '../log/log.js'
import type { NetnsHandle } from '../ns/netns.js'
import { withNetnsSync } from '../ns/netns.js'
import { checkName, type NftFamily } from './nft-batch.js'

const log = createLog('berth/firewall')
const LE = endianness() === 'LE'

const NLMSG_ERROR = 2
const NLM_F_REQUEST = 0x1
const NLM_F_ACK = 0x4
const NLM_F_DUMP = 0x300
const NLM_F_CREATE = 0x400
const NLM_F_APPEND = 0x800
const NLA_F_NESTED = 0x8000
const NFNL_SUBSYS_NFTABLES = 10
const NFNL_MSG_BATCH_BEGIN = 0x10
const NFNL_MSG_BATCH_END = 0x11
const NFT_MSG = { NEWCHAIN: 3, NEWRULE: 6, GETRULE: 7, DELRULE: 8, NEWSET: 9, NEWSETELEM: 12 } as const
const NFPROTO: Record<NftFamily, number> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 }
// NFTA_CHAIN_* and NFTA_RULE_* attribute numbers.
const TABLE_ATTR = 1
const CHAIN_NAME = 3
const RULE_CHAIN = 2
const RULE_EXPRESSIONS = 4
const LIST_ELEM = 1
const EXPR_NAME = 1
const EXPR_DATA = 2

/** nft registers: NFT_REG_1..4 are 16 bytes wide, NFT_REG32_00..15 4 bytes (REG32_00 = first word of REG_1). */
export const NFT_REG_1 = 1
export const NFT_REG32 = (i: number): number => 8 + i

/** One netlink attribute, header included and padded to 4 bytes. */
export function nla(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length
  const out = new Uint8Array((len + 3) & ~3)
  const v = new DataView(out.buffer)
  v.setUint16(0, len, LE)
  v.setUint16(2, type, LE)
  out.set(payload, 4)
  return out
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

export const nlaNest = (type: number, ...children: Uint8Array[]): Uint8Array => nla(type | NLA_F_NESTED, concat(children))
/** nf_tables numbers are big-endian u32 (NLA_U32 read with ntohl). */
export function nlaU32(type: number, value: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, value >>> 0, false)
  return nla(type, b)
}
export const nlaString = (type: number, s: string): Uint8Array => nla(type, concat([new TextEncoder().encode(s), new Uint8Array(1)]))

/** One rule expression: its name and its own attributes (NFTA_<NAME>_*). */
export const nftExpr = (name: string, ...data: Uint8Array[]): Uint8Array => nlaNest(LIST_ELEM, nlaString(EXPR_NAME, name), nlaNest(EXPR_DATA, ...data))

/** A u32 in host byte order, as the kernel keeps values like fib's address type in registers. */
export function hostU32(value: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, value >>> 0, LE)
  return b
}

/** The expressions hand-built rules use, with the attribute numbers of nf_tables.h (NFTA_<EXPR>_*). */
export const nx = {
  /** meta load `key` (NFT_META_*: 15 nfproto, 16 l4proto) → dreg */
  meta: (key: number, dreg: number) => nftExpr('meta', nlaU32(2, key), nlaU32(1, dreg)),
  /** cmp eq sreg, data (compared bytewise, as long as data) */
  cmpEq: (sreg: number, data: Uint8Array) => nftExpr('cmp', nlaU32(1, sreg), nlaU32(2, 0), nlaNest(3, nla(1, data))),
  /** fib `result` (3: address type) with `flags` (2: daddr) → dreg */
  fib: (result: number, flags: number, dreg: number) => nftExpr('fib', nlaU32(1, dreg), nlaU32(2, result), nlaU32(3, flags)),
  /** payload load len bytes at offset of base (1: network header, 2: transport header) → dreg */
  payload: (base: number, offset: number, len: number, dreg: number) => nftExpr('payload', nlaU32(1, dreg), nlaU32(2, base), nlaU32(3, offset), nlaU32(4, len)),
  /** lookup sreg in the named set or map; a map's data → dreg */
  lookup: (set: string, sreg: number, dreg: number) => nftExpr('lookup', nlaString(1, checkName('set', set)), nlaU32(2, sreg), nlaU32(3, dreg)),
  /** lookup sreg in an anonymous set of the same batch (NfnlBatch.addAnonymousSet), match only */
  lookupAnonymous: (set: AnonymousSet, sreg: number) => nftExpr('lookup', nlaString(1, ANON_SET_NAME), nlaU32(2, sreg), nlaU32(4, set.id)),
  /** dnat (type 1) of `family` (2 ipv4, 10 ipv6) from registers, with NF_NAT_RANGE_* flags */
  dnat: (family: number, r: { addrMin: number; addrMax: number; protoMin: number; protoMax: number }, flags: number) =>
    nftExpr('nat', nlaU32(1, 1), nlaU32(2, family), nlaU32(3, r.addrMin), nlaU32(4, r.addrMax), nlaU32(5, r.protoMin), nlaU32(6, r.protoMax), nlaU32(7, flags)),
}

const ANON_SET_NAME = '__set%d'
const NFT_SET_ANONYMOUS = 0x1
const NFT_SET_CONSTANT = 0x2

/** An anonymous constant set added in a batch, referred to by its batch-local id (nft's `{ tcp, udp }`). */
export interface AnonymousSet {
  id: number
}

interface Message {
  type: number
  flags: number
  family: NftFamily
  body: Uint8Array
  what: string
}

/** A transaction of hand-built nf_tables messages; nfnlApply sends it. Names are checked as NftBatch does. */
export class NfnlBatch {
  readonly #msgs: Message[] = []
  #setIds = 0

  get length(): number {
    return this.#msgs.length
  }

  /** Appends a rule made of `exprs` (nftExpr) to the chain. */
  addRule(family: NftFamily, table: string, chain: string, exprs: readonly Uint8Array[]): this {
    const body = concat([nlaString(TABLE_ATTR, checkName('table', table)), nlaString(RULE_CHAIN, checkName('chain', chain)), nlaNest(RULE_EXPRESSIONS, ...exprs)])
    return this.#push(NFT_MSG.NEWRULE, NLM_F_CREATE | NLM_F_APPEND, family, body, `add rule ${family} ${table} ${chain}`)
  }

  /** Deletes every rule of the chain (a DELRULE naming the chain and no rule handle). */
  flushChain(family: NftFamily, table: string, chain: string): this {
    const body = concat([nlaString(TABLE_ATTR, checkName('table', table)), nlaString(RULE_CHAIN, checkName('chain', chain))])
    return this.#push(NFT_MSG.DELRULE, 0, family, body, `flush chain ${family} ${table} ${chain}`)
  }

  /**
   * Adds an anonymous constant set (what nft makes for `meta l4proto { tcp, udp }`), bound to the next
   * rule that looks it up (nx.lookupAnonymous) and deleted with it. keyType: nft's datatype number (12
   * inet_proto), which `nft list` uses to print the elements; every element is keyLen bytes.
   */
  addAnonymousSet(family: NftFamily, table: string, keyType: number, keyLen: number, elements: readonly Uint8Array[]): AnonymousSet {
    const id = ++this.#setIds
    const t = nlaString(1, checkName('table', table))
    const set = concat([t, nlaString(2, ANON_SET_NAME), nlaU32(3, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT), nlaU32(4, keyType), nlaU32(5, keyLen), nlaU32(10, id)])
    this.#push(NFT_MSG.NEWSET, NLM_F_CREATE, family, set, `add anonymous set ${family} ${table}`)
    if (elements.some((e) => e.length !== keyLen)) throw new Error(`internal: anonymous set elements must be ${keyLen} bytes`)
    const elems = nlaNest(3, ...elements.map((e) => nlaNest(LIST_ELEM, nlaNest(1, nla(1, e)))))
    this.#push(NFT_MSG.NEWSETELEM, NLM_F_CREATE, family, concat([t, nlaString(2, ANON_SET_NAME), elems, nlaU32(4, id)]), `add elements to anonymous set ${family} ${table}`)
    return { id }
  }

  /** Creates a regular (non-base) chain; an existing one is left as it is. */
  addChain(family: NftFamily, table: string, name: string): this {
    const body = concat([nlaString(TABLE_ATTR, checkName('table', table)), nlaString(CHAIN_NAME, checkName('chain', name))])
    return this.#push(NFT_MSG.NEWCHAIN, NLM_F_CREATE, family, body, `add chain ${family} ${table} ${name}`)
  }

  /** The whole transaction as bytes; message i (0-based, between begin and end) has sequence number seq + 1 + i. */
  encode(seq: number): Uint8Array {
    const parts = [header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0))]
    this.#msgs.forEach((m, i) => parts.push(header((NFNL_SUBSYS_NFTABLES << 8) | m.type, NLM_F_REQUEST | NLM_F_ACK | m.flags, seq + 1 + i, NFPROTO[m.family], 0, m.body)))
    parts.push(header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 1 + this.#msgs.length, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0)))
    return concat(parts)
  }

  /** What message i does, for error messages. */
  describe(i: number): string {
    return this.#msgs[i]?.what ?? 'batch'
  }

  #push(type: number, flags: number, family: NftFamily, body: Uint8Array, what: string): this {
    this.#msgs.push({ type, flags, family, body, what })
    return this
  }
}

/** nlmsghdr + nfgenmsg (family, version 0, res_id big-endian) + body. */
function header(type: number, flags: number, seq: number, family: number, resId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(20 + body.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, out.length, LE)
  v.setUint16(4, type, LE)
  v.setUint16(6, flags, LE)
  v.setUint32(8, seq >>> 0, LE)
  v.setUint32(12, 0, LE)
  v.setUint8(16, family)
  v.setUint8(17, 0)
  v.setUint16(18, resId, false)
  out.set(body, 20)
  return out
}

/** The (sequence number, errno) of every NLMSG_ERROR in a reply stream; errno 0 is an ack. */
export function parseAcks(replies: Uint8Array): { seq: number; errno: number }[] {
  const v = new DataView(replies.buffer, replies.byteOffset, replies.byteLength)
  const out: { seq: number; errno: number }[] = []
  for (let off = 0; off + 16 <= replies.length; ) {
    const len = v.getUint32(off, LE)
    if (len < 16) break
    if (v.getUint16(off + 4, LE) === NLMSG_ERROR && len >= 20) out.push({ seq: v.getUint32(off + 8, LE), errno: -v.getInt32(off + 16, LE) })
    off += (len + 3) & ~3
  }
  return out
}

/**
 * Applies the batch as one transaction in `ns` (undefined: the current namespace). CniError 102 naming
 * the first message the kernel refused and its errno (e.g. EOPNOTSUPP for an attribute value it does not
 * support); nothing of the batch is then in place.
 */
export function nfnlApply(ns: NetnsHandle | undefined, batch: NfnlBatch): void {
  if (batch.length === 0) return
  const seq = Math.floor(Date.now() / 1000) & 0x3fffffff
  const replies = withNetnsSync(ns, () => native().nfnlTransact(batch.encode(seq), batch.length))
  const acks = parseAcks(replies)
  const refused = acks.find((a) => a.errno !== 0)
  if (refused !== undefined) {
    const what = batch.describe(refused.seq - seq - 1)
    log.debug(`nf_tables netlink: ${what} refused: ${errnoName(refused.errno)}`)
    throw new CniError(CniCode.FirewallFailed, `nf_tables refused "${what}": ${errnoName(refused.errno)}`, `errno ${refused.errno}`)
  }
  if (acks.length < batch.length) throw new CniError(CniCode.FirewallFailed, `nf_tables answered ${acks.length} of ${batch.length} messages`)
}

/** A rule expression read back from the kernel: its name and top-level attributes (NFTA_<EXPR>_*). */
export interface ListedExpr {
  name: string
  attrs: Map<number, Uint8Array>
}

/** The attributes of a message body or nested attribute, by type (the last one wins). */
export function parseAttrs(b: Uint8Array): Map<number, Uint8Array> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out = new Map<number, Uint8Array>()
  for (const [type, payload] of attrList(b, v)) out.set(type, payload)
  return out
}

function attrList(b: Uint8Array, v = new DataView(b.buffer, b.byteOffset, b.byteLength)): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = []
  for (let off = 0; off + 4 <= b.length; ) {
    const len = v.getUint16(off, LE)
    if (len < 4 || off + len > b.length) break
    out.push([v.getUint16(off + 2, LE) & ~NLA_F_NESTED, b.subarray(off + 4, off + len)])
    off += (len + 3) & ~3
  }
  return out
}

/** A NUL-terminated string attribute (names), '' when absent. */
export const attrString = (a: Uint8Array | undefined): string => new TextDecoder().decode(a ?? new Uint8Array(0)).replace(/\0+$/, '')

const LOOKUP_SET = 1 // NFTA_LOOKUP_SET
/** The sets a dumped rule's lookup expressions read, in rule order. */
export const lookupSets = (rule: readonly ListedExpr[]): string[] => rule.filter((e) => e.name === 'lookup').map((e) => attrString(e.attrs.get(LOOKUP_SET)))

/** A big-endian u32 attribute (nf_tables numbers), or undefined. */
export const attrU32 = (a: Uint8Array | undefined): number | undefined => (a === undefined || a.length < 4 ? undefined : new DataView(a.buffer, a.byteOffset, 4).getUint32(0, false))

/**
 * The rules of one chain as the kernel holds them, each a list of expressions: what `nft list` cannot
 * show (attributes libnftables does not know, like a NAT flag it has no name for). CniError 102 when the
 * kernel refuses the dump (ENOENT: no such table or chain).
 */
export function nfnlListRules(ns: NetnsHandle | undefined, family: NftFamily, table: string, chain: string): ListedExpr[][] {
  const body = concat([nlaString(TABLE_ATTR, checkName('table', table)), nlaString(RULE_CHAIN, checkName('chain', chain))])
  const req = header((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.GETRULE, NLM_F_REQUEST | NLM_F_DUMP, 1, NFPROTO[family], 0, body)
  const replies = withNetnsSync(ns, () => native().nfnlTransact(req, 1))
  const refused = parseAcks(replies).find((a) => a.errno !== 0)
  if (refused !== undefined) throw new CniError(CniCode.FirewallFailed, `nf_tables refused "list rules ${family} ${table} ${chain}": ${errnoName(refused.errno)}`)
  const v = new DataView(replies.buffer, replies.byteOffset, replies.byteLength)
  const rules: ListedExpr[][] = []
  for (let off = 0; off + 16 <= replies.length; ) {
    const len = v.getUint32(off, LE)
    if (len < 16 || off + len > replies.length) break
    if (v.getUint16(off + 4, LE) === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.NEWRULE)) {
      const exprs = parseAttrs(replies.subarray(off + 20, off + len)).get(RULE_EXPRESSIONS)
      rules.push(
        attrList(exprs ?? new Uint8Array(0)).map(([, e]) => {
          const a = parseAttrs(e)
          return { name: attrString(a.get(EXPR_NAME)), attrs: parseAttrs(a.get(EXPR_DATA) ?? new Uint8Array(0)) }
        }),
      )
    }
    off += (len + 3) & ~3
  }
  return rules
}
