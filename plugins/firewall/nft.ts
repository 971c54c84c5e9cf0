// The nftables backend. Everything lives in berth's own table; containers only add set elements.
//
// Table inet berth_firewall:
//   set ctr4 / ctr6     the containers' addresses, one element each, commented with the owner (owner.ts)
//   set isolated        bridges under ingressPolicy same-bridge (ifname)
//   set same            "bridge . bridge" for each of them: traffic that stays on its bridge
//   chain admin         for the administrator's own rules; created empty, never touched again
//   chain forward       filter hook forward prio -5 (before iptables' filter table at 0), policy accept;
//                       fixed rules, rewritten identically by every ADD:
//                         jump admin
//                         iifname @isolated oifname @isolated iifname . oifname != @same drop
//                         ip daddr @ctr4 ct state established,related meta mark set mark | M accept
//                         ip saddr @ctr4 meta mark set mark | M accept            (and the same for ip6)
//
// Why the mark: an accept in one base chain only ends that chain; every other base chain on the forward
// hook still sees the packet, and a drop policy there (iptables' FORWARD with policy DROP, as on a host
// with Docker) drops it. So the rules above mark what they let through, and iptables-hook.ts adds ONE
// fixed rule at the head of the host's iptables FORWARD chain accepting that mark. The reference plugin
// does the same thing with a jump from FORWARD to its own chain. Per-container cost: set elements only;
// an ADD re-declares the table (and reads it) only when the forward chain's rules are not as written.
import { CniError } from '../../pkg/errors/cni-error.js'
import { elementsOf, nftApply, nftList, type NftObject } from '../../pkg/firewall/nft.js'
import { lookupSets, nfnlListRules, parseAttrs, type ListedExpr } from '../../pkg/firewall/nft-netlink.js'
import { NftBatch, type NftJson } from '../../pkg/firewall/nft-batch.js'
import type { IpFamily } from '../../pkg/cni/ip-text.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { createLog } from '../../pkg/log/log.js'
import { ownedBy, parseOwnerComment, type Owner } from './owner.js'

const log = createLog('firewall')

export const FW_TABLE = 'berth_firewall'
const FAMILY = 'inet'
const FORWARD = 'forward'
const ADMIN = 'admin'
export const FORWARD_PRIO = -5
export const ADDR_SET: Record<IpFamily, string> = { 4: 'ctr4', 6: 'ctr6' }
const t = { family: FAMILY, table: FW_TABLE } as const

const meta = (key: string): NftJson => ({ meta: { key } })
const match = (op: string, left: NftJson, right: NftJson): NftJson => ({ match: { op, left, right } })
const addr = (f: IpFamily, field: 'saddr' | 'daddr'): NftJson => ({ payload: { protocol: f === 4 ? 'ip' : 'ip6', field } })
const setMark = (mark: number): NftJson => ({ mangle: { key: meta('mark'), value: { '|': [meta('mark'), mark] } } })

/** Table, sets, chains and the fixed rules: what every ADD declares (idempotent). */
export function declareBatch(mark: number): NftBatch {
  const b = new NftBatch().addTable(FAMILY, FW_TABLE)
  for (const f of [4, 6] as const) b.addSet({ ...t, name: ADDR_SET[f], type: f === 4 ? 'ipv4_addr' : 'ipv6_addr' })
  b.addSet({ ...t, name: 'isolated', type: 'ifname' })
  b.addSet({ ...t, name: 'same', type: ['ifname', 'ifname'] })
  b.addChain({ ...t, name: ADMIN })
  b.addChain({ ...t, name: FORWARD, type: 'filter', hook: 'forward', prio: FORWARD_PRIO, policy: 'accept' })
  b.flushChain(FAMILY, FW_TABLE, FORWARD)
  b.addRule({ ...t, chain: FORWARD, expr: [{ jump: { target: ADMIN } }] })
  b.addRule({
    ...t,
    chain: FORWARD,
    expr: [
      match('==', meta('iifname'), '@isolated'),
      match('==', meta('oifname'), '@isolated'),
      match('!=', { concat: [meta('iifname'), meta('oifname')] }, '@same'),
      { drop: null },
    ],
  })
  for (const f of [4, 6] as const) {
    b.addRule({
      ...t,
      chain: FORWARD,
      expr: [match('==', addr(f, 'daddr'), `@${ADDR_SET[f]}`), match('in', { ct: { key: 'state' } }, ['established', 'related']), setMark(mark), { accept: null }],
    })
    b.addRule({ ...t, chain: FORWARD, expr: [match('==', addr(f, 'saddr'), `@${ADDR_SET[f]}`), setMark(mark), { accept: null }] })
  }
  return b
}

/**
 * The ADD transaction. `listing` is the table as it is now: an element already holding one of the
 * addresses for another owner (a container that was never deleted) is replaced, so the new owner's DEL
 * removes it.
 */
export function setupBatch(o: Owner, mark: number, addrs: readonly { family: IpFamily; ip: string }[], bridge: string | undefined, listing: readonly NftObject[] | undefined): NftBatch {
  const b = declareBatch(mark)
  for (const f of [4, 6] as const) {
    const mine = addrs.filter((a) => a.family === f).map((a) => a.ip)
    if (mine.length === 0) continue
    const stale = (listing ? (elementsOf(listing, ADDR_SET[f]) ?? []) : []).filter((e) => typeof e.key === 'string' && mine.includes(e.key) && e.comment !== o.comment)
    if (stale.length > 0) b.deleteElements(FAMILY, FW_TABLE, ADDR_SET[f], stale)
    b.addElements(FAMILY, FW_TABLE, ADDR_SET[f], mine.map((ip) => ({ key: ip, comment: o.comment })))
  }
  if (bridge !== undefined) {
    // Bridge-level, shared by the bridge's containers: it stays when they leave, as in the reference.
    b.addElements(FAMILY, FW_TABLE, 'isolated', [{ key: bridge, comment: 'ingressPolicy same-bridge' }])
    b.addElements(FAMILY, FW_TABLE, 'same', [{ key: { concat: [bridge, bridge] } }])
  }
  return b
}

/**
 * The cheap ADD transaction, for a table whose forward chain holds its rules: only the container's
 * elements, created (it fails on one already there, which the full transaction replaces), and the
 * bridge-level ones added. No chain re-declared: the kernel makes that wait for an RCU grace period.
 */
export function createElementsBatch(o: Owner, addrs: readonly { family: IpFamily; ip: string }[], bridge: string | undefined): NftBatch {
  const b = new NftBatch()
  for (const f of [4, 6] as const) {
    const mine = addrs.filter((a) => a.family === f).map((a) => a.ip)
    if (mine.length > 0) b.createElements(FAMILY, FW_TABLE, ADDR_SET[f], [...new Set(mine)].map((ip) => ({ key: ip, comment: o.comment })))
  }
  if (bridge !== undefined) {
    b.addElements(FAMILY, FW_TABLE, 'isolated', [{ key: bridge, comment: 'ingressPolicy same-bridge' }])
    b.addElements(FAMILY, FW_TABLE, 'same', [{ key: { concat: [bridge, bridge] } }])
  }
  return b
}

/**
 * Whether the forward chain holds the rules declareBatch writes, in shape, as the kernel dumps them: six
 * rules, the isolation rule's lookups of isolated and same, then per family two lookups of its address set,
 * each marking with `mark` (the OR's xor operand).
 */
export function forwardIntact(rules: readonly (readonly ListedExpr[])[], mark: number): boolean {
  const lookups = (r: readonly ListedExpr[] | undefined) => lookupSets(r ?? [])
  const marks = (r: readonly ListedExpr[] | undefined) => (r ?? []).some((e) => e.name === 'bitwise' && orOperand(e) === mark)
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i])
  return (
    rules.length === 6 &&
    same(lookups(rules[1]), ['isolated', 'isolated', 'same']) &&
    [2, 3, 4, 5].every((i) => same(lookups(rules[i]), [ADDR_SET[i < 4 ? 4 : 6]]) && marks(rules[i]))
  )
}
const BITWISE_XOR = 5 // NFTA_BITWISE_XOR, a nested NFTA_DATA_VALUE (1)
/** meta mark is a host-order u32: "mark | M" is mask ~M, xor M. */
function orOperand(e: ListedExpr): number | undefined {
  const v = parseAttrs(e.attrs.get(BITWISE_XOR) ?? new Uint8Array(0)).get(1)
  return v === undefined || v.length !== 4 ? undefined : new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true)
}

/** The ADD in the host: the cheap transaction when the forward chain is intact, else the full one from a listing. */
export function setupFirewall(o: Owner, mark: number, addrs: readonly { family: IpFamily; ip: string }[], bridge: string | undefined): void {
  let intact = false
  try {
    intact = forwardIntact(nfnlListRules(undefined, FAMILY, FW_TABLE, FORWARD), mark)
  } catch (e) {
    if (!(e instanceof CniError)) throw e // no table or chain yet
  }
  if (intact) {
    try {
      nftApply(undefined, createElementsBatch(o, addrs, bridge))
      return
    } catch (e) {
      if (!(e instanceof CniError)) throw e // an element already there: replaced below
    }
  }
  log.debug(intact ? 'an address is already in the table: replacing it from a listing' : 'declaring the table (forward chain missing or not as written)')
  nftApply(undefined, setupBatch(o, mark, addrs, bridge, nftList(undefined, FAMILY, FW_TABLE)))
}

/** Deletes the elements whose comment carries the owner tag (nothing when the table is absent). */
export function teardownBatch(o: Owner, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  for (const f of [4, 6] as const) {
    const mine = (elementsOf(listing, ADDR_SET[f]) ?? []).filter((e) => ownedBy(e.comment, o))
    if (mine.length > 0) b.deleteElements(FAMILY, FW_TABLE, ADDR_SET[f], mine)
  }
  return b
}

/** Deletes this network's elements (by network tag) whose owner tag is not in `keep`. */
export function gcBatch(netTag: string, keep: ReadonlySet<string>, listing: readonly NftObject[] | undefined): NftBatch {
  const b = new NftBatch()
  if (listing === undefined) return b
  for (const f of [4, 6] as const) {
    const gone = (elementsOf(listing, ADDR_SET[f]) ?? []).filter((e) => {
      const p = parseOwnerComment(e.comment)
      return p !== undefined && p.netTag === netTag && !keep.has(p.tag)
    })
    if (gone.length > 0) b.deleteElements(FAMILY, FW_TABLE, ADDR_SET[f], gone)
  }
  return b
}

/** Problems CHECK reports: the fixed chain, each address owned by `o`, and the bridge under same-bridge. */
export function checkListing(o: Owner, addrs: readonly { family: IpFamily; ip: string }[], bridge: string | undefined, listing: readonly NftObject[] | undefined): string[] {
  if (listing === undefined) return [`nftables table inet ${FW_TABLE} is missing`]
  const problems: string[] = []
  const hook = listing.map((x) => x['chain']).find((c) => c?.['name'] === FORWARD)
  if (hook === undefined || hook['hook'] !== 'forward') problems.push(`chain ${FORWARD} of table inet ${FW_TABLE} is missing`)
  else if (!listing.some((x) => x['rule']?.['chain'] === FORWARD)) problems.push(`chain ${FORWARD} of table inet ${FW_TABLE} has no rules`)
  for (const a of addrs) {
    const e = (elementsOf(listing, ADDR_SET[a.family]) ?? []).find((x) => x.key === a.ip)
    if (e === undefined) problems.push(`${a.ip} is not in set ${ADDR_SET[a.family]}`)
    else if (!ownedBy(e.comment, o)) problems.push(`${a.ip} in set ${ADDR_SET[a.family]} belongs to "${e.comment ?? ''}"`)
  }
  if (bridge !== undefined && !(elementsOf(listing, 'isolated') ?? []).some((e) => e.key === bridge)) problems.push(`bridge ${bridge} is not in set isolated`)
  return problems
}

export const listTable = (ns: NetnsHandle | undefined): NftObject[] | undefined => nftList(ns, FAMILY, FW_TABLE)
export const apply = nftApply
