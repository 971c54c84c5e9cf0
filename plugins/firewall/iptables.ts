// iptables: the reference's backend (ingress through CNI-FORWARD, CNI-ADMIN, CNI-ISOLATION-STAGE-1/2, in
// the same shape, so hosts with rules from the reference keep working), and the one fixed FORWARD rule
// the nftables backend needs (see nft.ts). Per-container rules carry the owner comment, so DEL and GC
// find them by listing.
//
// iptables-restore --noflush flushes a chain it is told to declare, so chains are declared only when a
// listing shows them missing, and listing and changing happen under one lock: concurrent ADDs must not
// both see a chain missing and the second flush what the first added.
import { mkdirSync } from 'node:fs'
import { iptablesSave, iptablesRestore, iptablesTools } from '../../pkg/firewall/iptables.js'
import { IptablesBatch, type IptSavedRule, type IptSavedTable } from '../../pkg/firewall/iptables-format.js'
import type { IpFamily } from '../../pkg/cni/ip-text.js'
import { withLock } from '../../pkg/lock/lock.js'
import { markText } from './config.js'
import { ownedBy, parseOwnerComment, type Owner } from './owner.js'

export const PRIV_CHAIN = 'CNI-FORWARD'
export const STAGE1 = 'CNI-ISOLATION-STAGE-1'
export const STAGE2 = 'CNI-ISOLATION-STAGE-2'
export const PRIV_COMMENT = 'CNI firewall plugin rules'
export const ADMIN_COMMENT = 'CNI firewall plugin admin overrides'
export const ISOLATION_COMMENT = 'CNI firewall plugin rules (ingressPolicy: same-bridge)'
export const HOOK_COMMENT = 'berth firewall: accept what table inet berth_firewall let through'
export const LOCK_DIR = '/run/berth'
const LOCK = `${LOCK_DIR}/firewall-iptables.lock`

export async function withIptablesLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 })
  return withLock(LOCK, fn)
}

const hostPrefix = (f: IpFamily) => (f === 4 ? 32 : 128)
export const hasTools = (f: IpFamily): boolean => {
  const t = iptablesTools(f)
  return t.restore !== undefined && t.save !== undefined
}

/** The filter table as `iptables-save -t filter` prints it (with iptables-nft: its built-in chains even when absent). */
export async function filterTable(f: IpFamily): Promise<IptSavedTable | undefined> {
  return (await iptablesSave(undefined, f, 'filter')).find((x) => x.table === 'filter')
}

/**
 * The filter table only when it really exists: plain `iptables-save` lists existing tables only, while
 * `-t filter` shows iptables-nft's empty built-in chains even where there is no table.
 */
export async function existingFilterTable(f: IpFamily): Promise<IptSavedTable | undefined> {
  return (await iptablesSave(undefined, f)).find((x) => x.table === 'filter')
}

const same = (r: IptSavedRule, chain: string, args: readonly string[], comment: string | undefined) =>
  r.chain === chain && r.comment === comment && r.args.length === args.length && r.args.every((a, i) => a === args[i])
const has = (tbl: IptSavedTable | undefined, chain: string, args: readonly string[], comment?: string) => tbl?.rules.some((r) => same(r, chain, args, comment)) === true

// ---- the nftables backend's hook rule ----

export const hookArgs = (mark: number): string[] => ['-m', 'mark', '--mark', markText(mark), '-j', 'ACCEPT']

/**
 * The changes that put the hook rule at the head of FORWARD, given the filter table as it is now
 * (existingFilterTable); empty when the rule is there or the host has no filter FORWARD chain: then
 * nothing there can drop the traffic, and berth does not create the host's iptables table. A hook rule
 * for another mark (the configuration changed) is replaced.
 */
export function hookBatch(f: IpFamily, mark: number, tbl: IptSavedTable | undefined): IptablesBatch {
  const b = new IptablesBatch(f)
  if (tbl === undefined || !tbl.chains.has('FORWARD')) return b
  const args = hookArgs(mark)
  for (const r of tbl.rules) if (r.chain === 'FORWARD' && r.comment === HOOK_COMMENT && !same(r, 'FORWARD', args, HOOK_COMMENT)) b.delete('filter', 'FORWARD', r.args, HOOK_COMMENT)
  if (!has(tbl, 'FORWARD', args, HOOK_COMMENT)) b.insert('filter', 'FORWARD', args, HOOK_COMMENT)
  return b
}

export async function ensureHookRule(f: IpFamily, mark: number): Promise<void> {
  if (!hasTools(f)) return
  await withIptablesLock(async () => iptablesRestore(undefined, hookBatch(f, mark, await existingFilterTable(f))))
}

// ---- the iptables backend ----

export const acceptArgs = (f: IpFamily, ip: string): string[][] => [
  ['-d', `${ip}/${hostPrefix(f)}`, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ['-s', `${ip}/${hostPrefix(f)}`, '-j', 'ACCEPT'],
]

/** ADD for one family: the fixed chains and jumps where missing, then the container's two rules per address. */
export function setupIptBatch(f: IpFamily, o: Owner, adminChain: string, ips: readonly string[], bridge: string | undefined, tbl: IptSavedTable | undefined): IptablesBatch {
  const b = new IptablesBatch(f)
  const chains = tbl?.chains ?? new Map<string, string>()
  for (const c of [PRIV_CHAIN, adminChain]) if (!chains.has(c)) b.declareChain('filter', c)
  if (!has(tbl, 'FORWARD', ['-j', PRIV_CHAIN], PRIV_COMMENT)) b.insert('filter', 'FORWARD', ['-j', PRIV_CHAIN], PRIV_COMMENT)
  if (!has(tbl, PRIV_CHAIN, ['-j', adminChain], ADMIN_COMMENT)) b.insert('filter', PRIV_CHAIN, ['-j', adminChain], ADMIN_COMMENT)
  for (const ip of ips) {
    for (const args of acceptArgs(f, ip)) {
      // Rules for the same address left by another owner go: this owner's DEL must be able to remove them.
      for (const r of tbl?.rules ?? []) if (r.chain === PRIV_CHAIN && r.comment !== o.comment && sameArgs(r.args, args)) b.delete('filter', PRIV_CHAIN, r.args, r.comment)
      if (!has(tbl, PRIV_CHAIN, args, o.comment)) b.append('filter', PRIV_CHAIN, args, o.comment)
    }
  }
  if (bridge !== undefined) {
    for (const c of [STAGE1, STAGE2]) if (!chains.has(c)) b.declareChain('filter', c)
    const s1 = ['-i', bridge, '!', '-o', bridge, '-j', STAGE2]
    const s2 = ['-o', bridge, '-j', 'DROP']
    if (!has(tbl, STAGE1, s1, ISOLATION_COMMENT)) b.insert('filter', STAGE1, s1, ISOLATION_COMMENT)
    if (!has(tbl, STAGE1, ['-j', 'RETURN'], ISOLATION_COMMENT)) b.append('filter', STAGE1, ['-j', 'RETURN'], ISOLATION_COMMENT)
    if (!has(tbl, STAGE2, s2, ISOLATION_COMMENT)) b.insert('filter', STAGE2, s2, ISOLATION_COMMENT)
    if (!has(tbl, STAGE2, ['-j', 'RETURN'], ISOLATION_COMMENT)) b.append('filter', STAGE2, ['-j', 'RETURN'], ISOLATION_COMMENT)
    // Before the jump to CNI-FORWARD, as the reference has it: inserted last, so it ends up first.
    if (!has(tbl, 'FORWARD', ['-j', STAGE1], ISOLATION_COMMENT)) b.insert('filter', 'FORWARD', ['-j', STAGE1], ISOLATION_COMMENT)
  }
  return b
}

const sameArgs = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i])

/** DEL: the owner's rules in CNI-FORWARD. */
export function teardownIptBatch(f: IpFamily, o: Owner, tbl: IptSavedTable | undefined): IptablesBatch {
  const b = new IptablesBatch(f)
  for (const r of tbl?.rules ?? []) if (r.chain === PRIV_CHAIN && ownedBy(r.comment, o)) b.delete('filter', PRIV_CHAIN, r.args, r.comment)
  return b
}

/** GC: this network's rules whose owner is not in `keep`. */
export function gcIptBatch(f: IpFamily, netTag: string, keep: ReadonlySet<string>, tbl: IptSavedTable | undefined): IptablesBatch {
  const b = new IptablesBatch(f)
  for (const r of tbl?.rules ?? []) {
    if (r.chain !== PRIV_CHAIN) continue
    const p = parseOwnerComment(r.comment)
    if (p !== undefined && p.netTag === netTag && !keep.has(p.tag)) b.delete('filter', PRIV_CHAIN, r.args, r.comment)
  }
  return b
}

/** CHECK: what is missing for one family. */
export function checkIpt(f: IpFamily, o: Owner, adminChain: string, ips: readonly string[], bridge: string | undefined, tbl: IptSavedTable | undefined): string[] {
  const v = f === 4 ? 'iptables' : 'ip6tables'
  const problems: string[] = []
  if (!has(tbl, 'FORWARD', ['-j', PRIV_CHAIN], PRIV_COMMENT)) problems.push(`${v}: FORWARD has no jump to ${PRIV_CHAIN}`)
  if (!has(tbl, PRIV_CHAIN, ['-j', adminChain], ADMIN_COMMENT)) problems.push(`${v}: ${PRIV_CHAIN} has no jump to ${adminChain}`)
  for (const ip of ips) for (const args of acceptArgs(f, ip)) if (!has(tbl, PRIV_CHAIN, args, o.comment)) problems.push(`${v}: ${PRIV_CHAIN} lacks "${args.join(' ')}" for this container`)
  if (bridge !== undefined && !has(tbl, STAGE2, ['-o', bridge, '-j', 'DROP'], ISOLATION_COMMENT)) problems.push(`${v}: ${STAGE2} lacks the rule for bridge ${bridge}`)
  return problems
}
