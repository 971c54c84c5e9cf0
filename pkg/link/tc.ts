// Traffic control (linux/pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h): the qdiscs, classes and u32 filters of
// one link, and the option encoders of the kinds berth uses: tbf, htb, ingress, u32 with a mirred redirect.
// Rates go in tc_ratespec (bytes/s, TCA_*_RATE64 above 32 bits) with linklayer ethernet, so no rate table
// is sent: the kernel computes transmit times itself (since 3.11).
import { readFileSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { NetlinkError } from '../errors/sys-error.js'
import {
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  RTM_DELQDISC,
  RTM_GETQDISC,
  RTM_NEWQDISC,
  RTM_GETTCLASS,
  RTM_NEWTCLASS,
  RTM_NEWTFILTER,
  RTM_GETTFILTER,
} from './constants.js'
import { u32 } from './new-link.js'
import { attr, attrsOf, tcBody, u32Attr, type Rtnl, type RtMessage } from './rtnl.js'

export const TC_H_ROOT = 0xffffffff
export const TC_H_INGRESS = 0xfffffff1
/** "major:minor" as the kernel stores a handle. */
export const tcHandle = (major: number, minor: number): number => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0
/** The ingress qdisc's handle, ffff: */
export const INGRESS_HANDLE = tcHandle(0xffff, 0)
export const ETH_P_ALL = 0x0003
export const ETH_P_IP = 0x0800
export const ETH_P_IPV6 = 0x86dd

const TCA_TBF_PARMS = 1
const TCA_TBF_RATE64 = 4
const TCA_HTB_PARMS = 1
const TCA_HTB_INIT = 2
const TCA_HTB_RATE64 = 6
const TCA_HTB_CEIL64 = 7
const TCA_U32_CLASSID = 1
const TCA_U32_SEL = 5
const TCA_U32_ACT = 7
const TC_U32_TERMINAL = 1
const TCA_ACT_KIND = 1
const TCA_ACT_OPTIONS = 2
const TCA_MIRRED_PARMS = 2
const TC_ACT_STOLEN = 4
const TCA_EGRESS_REDIR = 1
const TC_LINKLAYER_ETHERNET = 1
const U32_MAX = 0xffffffff

/** A qdisc, class or filter as the kernel reports it. */
export interface TcObject {
  readonly index: number
  readonly handle: number
  readonly parent: number
  /** filters: (priority << 16) | htons(protocol) */
  readonly info: number
  /** "tbf", "htb", "ingress", "u32", ... */
  readonly kind: string
  /** TCA_OPTIONS, decoded by the kind's parser below */
  readonly options: Buffer | undefined
}

function toTc(m: RtMessage): TcObject | undefined {
  if (m.kind !== 'tc') return undefined
  return { index: m.hdr.index, handle: m.hdr.handle, parent: m.hdr.parent, info: m.hdr.info, kind: m.attrs.kind ?? '', options: m.attrs.options }
}

async function dump(rt: Rtnl, type: number, index: number, parent: number, op: string): Promise<TcObject[]> {
  const msgs = await rt.request({ type, flags: NLM_F_DUMP, body: tcBody({ index, handle: 0, parent, info: 0 }, {}), op, target: `ifindex ${index}` })
  return msgs.map(toTc).filter((t): t is TcObject => t !== undefined && t.index === index)
}

/** The qdiscs of one link. `tc qdisc show dev X` */
export const listQdiscs = (rt: Rtnl, index: number): Promise<TcObject[]> => dump(rt, RTM_GETQDISC, index, 0, 'list qdiscs')
/** The classes of one link. `tc class show dev X` */
export const listClasses = (rt: Rtnl, index: number): Promise<TcObject[]> => dump(rt, RTM_GETTCLASS, index, 0, 'list classes')
/** The filters attached to `parent` (a qdisc handle) on one link. `tc filter show dev X parent P` */
export const listFilters = (rt: Rtnl, index: number, parent: number): Promise<TcObject[]> => dump(rt, RTM_GETTFILTER, index, parent, 'list filters')

export interface TcSpec {
  readonly index: number
  readonly parent: number
  readonly handle: number
  readonly kind: string
  /** TCA_OPTIONS payload, from the encoders below */
  readonly options?: Buffer
  /** the link's name, for errors */
  readonly label: string
}

/** `tc qdisc add dev X parent P handle H KIND ...`; EEXIST when that parent already has a qdisc of ours. */
export async function addQdisc(rt: Rtnl, q: TcSpec): Promise<void> {
  await rt.request({
    type: RTM_NEWQDISC,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: tcBody({ index: q.index, handle: q.handle, parent: q.parent, info: 0 }, q.options === undefined ? { kind: q.kind } : { kind: q.kind, options: q.options }),
    op: `add ${q.kind} qdisc on`,
    target: q.label,
  })
}

/** `tc qdisc del dev X parent P`; false when there was none (the link itself may be gone too). */
export async function delQdiscIfExists(rt: Rtnl, index: number, parent: number, label: string): Promise<boolean> {
  try {
    await rt.request({ type: RTM_DELQDISC, body: tcBody({ index, handle: 0, parent, info: 0 }, {}), op: 'delete qdisc on', target: label })
    return true
  } catch (e) {
    // ENOENT/EINVAL: no such qdisc (only the built-in default); ENODEV: no such link.
    if (e instanceof NetlinkError && [osConstants.errno.ENOENT, osConstants.errno.EINVAL, osConstants.errno.ENODEV].includes(e.errno)) return false
    throw e
  }
}

/** `tc class add dev X parent P classid H KIND ...` */
export async function addClass(rt: Rtnl, c: TcSpec): Promise<void> {
  await rt.request({
    type: RTM_NEWTCLASS,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: tcBody({ index: c.index, handle: c.handle, parent: c.parent, info: 0 }, c.options === undefined ? { kind: c.kind } : { kind: c.kind, options: c.options }),
    op: `add ${c.kind} class on`,
    target: c.label,
  })
}

export interface FilterSpec {
  readonly index: number
  readonly parent: number
  readonly priority: number
  /** ETH_P_* in host order */
  readonly protocol: number
  readonly kind: string
  readonly options: Buffer
  readonly label: string
}

/** `tc filter add dev X parent P protocol PROTO prio N KIND ...` */
export async function addFilter(rt: Rtnl, f: FilterSpec): Promise<void> {
  await rt.request({
    type: RTM_NEWTFILTER,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: tcBody({ index: f.index, handle: 0, parent: f.parent, info: filterInfo(f.priority, f.protocol) }, { kind: f.kind, options: f.options }),
    op: `add ${f.kind} filter on`,
    target: f.label,
  })
}

/** tcm_info of a filter: priority in the high half, the protocol in network byte order in the low half. */
export const filterInfo = (priority: number, protocol: number): number => (((priority & 0xffff) << 16) | (((protocol & 0xff) << 8) | ((protocol >> 8) & 0xff))) >>> 0

// ---- kinds -------------------------------------------------------------------------------------------

function u64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}

/** struct tc_ratespec for `rate` bytes/s (capped at 32 bits; the caller adds the 64-bit attribute). */
function ratespec(rate: number): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt8(TC_LINKLAYER_ETHERNET, 1)
  b.writeInt16LE(-1, 4) // cell_align, as tc writes it
  b.writeUInt32LE(Math.min(rate, U32_MAX), 8)
  return b
}

/** Rate from a tc_ratespec at `off`, or the 64-bit attribute when the kernel sent one. */
const rateOf = (spec: Buffer, off: number, rate64: Buffer | undefined): number => (rate64 !== undefined ? Number(rate64.readBigUInt64LE(0)) : spec.readUInt32LE(off + 8))

export interface TokenBucket {
  /** bytes per second */
  readonly rate: number
  /** bucket size in scheduler ticks (64 ns each) */
  readonly buffer: number
  /** queue limit in bytes */
  readonly limit: number
}

/** TCA_OPTIONS of a tbf qdisc. */
export function tbfOptions(t: TokenBucket): Buffer {
  const q = Buffer.alloc(36)
  ratespec(t.rate).copy(q, 0)
  q.writeUInt32LE(t.limit >>> 0, 24)
  q.writeUInt32LE(t.buffer >>> 0, 28)
  const parts = [attr(TCA_TBF_PARMS, q)]
  if (t.rate > U32_MAX) parts.push(attr(TCA_TBF_RATE64, u64(t.rate)))
  return Buffer.concat(parts)
}

export function parseTbfOptions(options: Buffer | undefined): TokenBucket | undefined {
  const a = options === undefined ? undefined : attrsOf(options)
  const q = a?.get(TCA_TBF_PARMS)
  if (q === undefined || q.length < 36) return undefined
  return { rate: rateOf(q, 0, a?.get(TCA_TBF_RATE64)), limit: q.readUInt32LE(24), buffer: q.readUInt32LE(28) }
}

/** TCA_OPTIONS of a bfifo qdisc (struct tc_fifo_qopt, not attributes): a queue of at most `limit` bytes. */
export function bfifoOptions(limit: number): Buffer {
  return u32(limit)
}

/** TCA_OPTIONS of an htb qdisc whose unclassified traffic goes to class 1:`defaultMinor`. */
export function htbQdiscOptions(defaultMinor: number): Buffer {
  const g = Buffer.alloc(20)
  g.writeUInt32LE(3, 0) // version
  g.writeUInt32LE(10, 4) // rate2quantum, tc's default
  g.writeUInt32LE(defaultMinor, 8)
  return attr(TCA_HTB_INIT, g)
}

export interface HtbClass {
  /** bytes per second guaranteed */
  readonly rate: number
  /** bytes per second at most */
  readonly ceil: number
  /** ticks, as TokenBucket.buffer (0: no bucket beyond the rate, as for the unshaped class) */
  readonly buffer: number
}

/** TCA_OPTIONS of an htb class. */
export function htbClassOptions(c: HtbClass): Buffer {
  const o = Buffer.alloc(44)
  ratespec(c.rate).copy(o, 0)
  ratespec(c.ceil).copy(o, 12)
  o.writeUInt32LE(c.buffer >>> 0, 24)
  o.writeUInt32LE(c.buffer >>> 0, 28)
  const parts = [attr(TCA_HTB_PARMS, o)]
  if (c.rate > U32_MAX) parts.push(attr(TCA_HTB_RATE64, u64(c.rate)))
  if (c.ceil > U32_MAX) parts.push(attr(TCA_HTB_CEIL64, u64(c.ceil)))
  return Buffer.concat(parts)
}

export function parseHtbClassOptions(options: Buffer | undefined): HtbClass | undefined {
  const a = options === undefined ? undefined : attrsOf(options)
  const o = a?.get(TCA_HTB_PARMS)
  if (o === undefined || o.length < 44) return undefined
  return { rate: rateOf(o, 0, a?.get(TCA_HTB_RATE64)), ceil: rateOf(o, 12, a?.get(TCA_HTB_CEIL64)), buffer: o.readUInt32LE(24) }
}

/** One 32-bit match of a u32 selector: (packet[off..off+4] & mask) == value, both in network order. */
export interface U32Key {
  readonly mask: number
  readonly value: number
  /** byte offset from the network header */
  readonly off: number
}

export interface U32Filter {
  /** all must match; none: every packet matches */
  readonly keys: readonly U32Key[]
  /** the class matching packets go to */
  readonly classId?: number
  /** redirect matching packets to this ifindex's egress (mirred) */
  readonly redirectTo?: number
}

/** TCA_OPTIONS of a u32 filter. */
export function u32Options(f: U32Filter): Buffer {
  // A selector with no keys matches nothing: "match all" is one key with mask 0, as tc writes it.
  const keys = f.keys.length > 0 ? f.keys : [{ mask: 0, value: 0, off: 0 }]
  const sel = Buffer.alloc(16 + 16 * keys.length)
  sel.writeUInt8(TC_U32_TERMINAL, 0)
  sel.writeUInt8(keys.length, 2)
  keys.forEach((k, i) => {
    const at = 16 + 16 * i
    sel.writeUInt32BE(k.mask >>> 0, at)
    sel.writeUInt32BE((k.value & k.mask) >>> 0, at + 4)
    sel.writeInt32LE(k.off, at + 8)
  })
  const parts: Buffer[] = []
  if (f.classId !== undefined) parts.push(u32Attr(TCA_U32_CLASSID, f.classId))
  parts.push(attr(TCA_U32_SEL, sel))
  if (f.redirectTo !== undefined) {
    const m = Buffer.alloc(28)
    m.writeInt32LE(TC_ACT_STOLEN, 8)
    m.writeInt32LE(TCA_EGRESS_REDIR, 20)
    m.writeUInt32LE(f.redirectTo, 24)
    const action = Buffer.concat([attr(TCA_ACT_KIND, Buffer.from('mirred\0')), attr(TCA_ACT_OPTIONS, attr(TCA_MIRRED_PARMS, m), true)])
    parts.push(attr(TCA_U32_ACT, attr(1, action, true), true))
  }
  return Buffer.concat(parts)
}

/** What a dumped u32 filter does: its keys, class and redirect target (undefined: a hash table node). */
export function parseU32Options(options: Buffer | undefined): U32Filter | undefined {
  const a = options === undefined ? undefined : attrsOf(options)
  const sel = a?.get(TCA_U32_SEL)
  if (a === undefined || sel === undefined || sel.length < 16) return undefined
  const n = sel.readUInt8(2)
  const keys: U32Key[] = []
  for (let i = 0; i < n && 16 + 16 * (i + 1) <= sel.length; i++) {
    const at = 16 + 16 * i
    keys.push({ mask: sel.readUInt32BE(at), value: sel.readUInt32BE(at + 4), off: sel.readInt32LE(at + 8) })
  }
  const classId = a.get(TCA_U32_CLASSID)?.readUInt32LE(0)
  let redirectTo: number | undefined
  const acts = a.get(TCA_U32_ACT)
  for (const act of acts === undefined ? [] : attrsOf(acts).values()) {
    const parts = attrsOf(act)
    if (parts.get(TCA_ACT_KIND)?.toString('latin1').replace(/\0.*$/s, '') !== 'mirred') continue
    const parms = attrsOf(parts.get(TCA_ACT_OPTIONS) ?? Buffer.alloc(0)).get(TCA_MIRRED_PARMS)
    if (parms !== undefined && parms.length >= 28 && parms.readInt32LE(20) === TCA_EGRESS_REDIR) redirectTo = parms.readUInt32LE(24)
  }
  const keysOnly = keys.filter((k) => k.mask !== 0)
  return { keys: keysOnly, ...(classId === undefined ? {} : { classId }), ...(redirectTo === undefined ? {} : { redirectTo }) }
}

/**
 * Scheduler ticks per microsecond, from /proc/net/psched as tc and vishvananda/netlink read it (15.625 on
 * every kernel since 2.6.31: 64 ns ticks); token bucket sizes are given in ticks.
 */
export function tickInUsec(text: string | undefined = psched()): number {
  const v = (text ?? '').trim().split(/\s+/).map((h) => parseInt(h, 16))
  if (v.length < 3 || v.some((n) => !Number.isFinite(n) || n <= 0)) return 1000 / 64
  const [t2us, us2t, clockRes] = v as [number, number, number]
  return ((clockRes === 1e9 ? us2t : t2us) / us2t) * (clockRes / 1e6)
}

// The kernel's clock never changes while it runs: read once per process (the daemon makes many buckets).
let pschedText: string | null | undefined
function psched(): string | undefined {
  if (pschedText === undefined) {
    try {
      pschedText = readFileSync('/proc/net/psched', 'latin1')
    } catch {
      pschedText = null
    }
  }
  return pschedText ?? undefined
}
