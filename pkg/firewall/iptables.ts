// The iptables mechanism: `iptables-restore --noflush -w` (or ip6tables-restore) with the rules on stdin,
// run inside the target namespace; `iptables-save` to read chains back. Whichever variant the host's
// alternatives select (nf_tables or legacy) is used; the text format is the same.
import { CniCode, CniError } from '../errors/cni-error.js'
import { createLog } from '../log/log.js'
import type { NetnsHandle } from '../ns/netns.js'
import { execInNetns, findExecutable } from './exec.js'
import { checkChain, checkTable, parseIptablesSave, type IpFamily, type IptablesBatch, type IptSavedRule, type IptSavedTable, type IptTable } from './iptables-format.js'

const log = createLog('berth/firewall')

export interface IptablesOptions {
  /** seconds to wait for the xtables lock (-w); default 10 */
  waitSeconds?: number
  /** kill the tool after this long; default 30 s */
  timeoutMs?: number
}

export interface IptablesTools {
  restore: string | undefined
  save: string | undefined
}

/** The restore/save executables for a family, or undefined where missing. */
export function iptablesTools(family: IpFamily, pathEnv?: string): IptablesTools {
  const prefix = family === 6 ? 'ip6tables' : 'iptables'
  return { restore: findExecutable(`${prefix}-restore`, pathEnv), save: findExecutable(`${prefix}-save`, pathEnv) }
}

/** Applies the batch with `iptables-restore --noflush` in `ns`. Each table's block commits atomically. */
export async function iptablesRestore(ns: NetnsHandle | undefined, batch: IptablesBatch, opts: IptablesOptions = {}): Promise<void> {
  const text = batch.toRestoreText()
  if (text === '') return
  const restore = requireTool(batch.family, 'restore')
  const wait = opts.waitSeconds ?? 10
  if (!Number.isInteger(wait) || wait < 0) throw new CniError(CniCode.InvalidConfig, `invalid iptables lock wait "${wait}": must be whole seconds`)
  log.debug(`${restore}${ns ? ` in ${ns.path}` : ''}:\n${text}`)
  const r = await execInNetns(ns, restore, ['--noflush', '-w', String(wait)], { input: text, ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) })
  if (r.status !== 0) {
    throw new CniError(CniCode.FirewallFailed, `failed to apply iptables rules: ${firstLine(r.stderr, r.status)}`, `${r.stderr.trim()}\ninput:\n${text}`)
  }
}

/** `iptables-save [-t table]` in `ns`, parsed. */
export async function iptablesSave(ns: NetnsHandle | undefined, family: IpFamily, table?: IptTable, opts: IptablesOptions = {}): Promise<IptSavedTable[]> {
  const save = requireTool(family, 'save')
  const args = table === undefined ? [] : ['-t', checkTable(table)]
  const r = await execInNetns(ns, save, args, { ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) })
  if (r.status !== 0) throw new CniError(CniCode.FirewallFailed, `failed to list iptables rules: ${firstLine(r.stderr, r.status)}`, r.stderr.trim())
  return parseIptablesSave(r.stdout)
}

/** The rules of one chain, in order; undefined when the table or chain does not exist. */
export async function iptablesListChain(
  ns: NetnsHandle | undefined,
  family: IpFamily,
  table: IptTable,
  chain: string,
  opts: IptablesOptions = {},
): Promise<IptSavedRule[] | undefined> {
  checkChain(chain)
  const saved = (await iptablesSave(ns, family, table, opts)).find((t) => t.table === table)
  if (saved === undefined || !saved.chains.has(chain)) return undefined
  return saved.rules.filter((r) => r.chain === chain)
}

/**
 * Creates a user chain unless it exists (`iptables -w N -t TABLE -N CHAIN`, an argv, never a shell).
 * Unlike declaring it in an iptables-restore batch, this never flushes a chain another process filled.
 * Resolves true when this call created the chain, false when it already existed.
 */
export async function iptablesEnsureChain(ns: NetnsHandle | undefined, family: IpFamily, table: IptTable, chain: string, opts: IptablesOptions = {}): Promise<boolean> {
  checkTable(table)
  checkChain(chain)
  const name = family === 6 ? 'ip6tables' : 'iptables'
  const tool = findExecutable(name)
  if (tool === undefined) throw new CniError(CniCode.NotAvailable, `${name} not found: install iptables or use the nftables backend`)
  const wait = opts.waitSeconds ?? 10
  if (!Number.isInteger(wait) || wait < 0) throw new CniError(CniCode.InvalidConfig, `invalid iptables lock wait "${wait}": must be whole seconds`)
  const r = await execInNetns(ns, tool, ['-w', String(wait), '-t', table, '-N', chain], { ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) })
  if (r.status === 0) return true
  if (r.status === 1 && /chain already exists/i.test(r.stderr)) return false
  throw new CniError(CniCode.FirewallFailed, `failed to create iptables chain ${chain} in table ${table}: ${firstLine(r.stderr, r.status)}`, r.stderr.trim())
}

function requireTool(family: IpFamily, which: 'restore' | 'save'): string {
  const tools = iptablesTools(family)
  const path = tools[which]
  const name = `${family === 6 ? 'ip6tables' : 'iptables'}-${which}`
  if (path === undefined) throw new CniError(CniCode.NotAvailable, `${name} not found: install iptables or use the nftables backend`)
  return path
}

function firstLine(stderr: string, status: number | null): string {
  return stderr.split('\n').find((l) => l.trim() !== '')?.trim() ?? `exit status ${status}`
}
