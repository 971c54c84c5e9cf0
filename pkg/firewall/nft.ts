// The nftables mechanism: apply an NftBatch in one libnftables transaction, list tables and elements.
//
// libnftables (1.0.6) opens its NETLINK_NETFILTER socket in nft_ctx_new(), and the addon creates and
// frees a context inside every nftRun() call; so running nftRun() inside withNetnsSync() puts the socket,
// the cache dump and the commit in the target namespace, and nothing outlives the call.
// Calls are synchronous (libnftables blocks on netlink), as withNetnsSync requires.
// libnftables calls exit() on a few internal failures (out of memory, no netlink socket, oversized
// comments on the JSON path): nft-batch.ts validates what we can before the call.
import { native } from '../../native/index.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { SysError } from '../errors/sys-error.js'
import { createLog } from '../log/log.js'
import type { NetnsHandle } from '../ns/netns.js'
import { withNetnsSync } from '../ns/netns.js'
import { checkFamily, checkName, type NftBatch, type NftElement, type NftFamily, type NftJson } from './nft-batch.js'

const log = createLog('berth/firewall')

/** One object of a listing: { table: {...} }, { chain: {...} }, { set: {...} }, { map: {...} }, { rule: {...} }. */
export type NftObject = { readonly [kind: string]: { readonly [key: string]: NftJson } }

/** Applies the batch as one atomic transaction in `ns` (undefined: the current namespace). Empty batches do nothing. */
export function nftApply(ns: NetnsHandle | undefined, batch: NftBatch): void {
  if (batch.length === 0) return
  const json = batch.toString()
  log.debug(`nft apply${ns ? ` in ${ns.path}` : ''}: ${json}`)
  run(ns, json, true)
}

/** Applies nft script text (the `nft -f` language) as one transaction. Prefer NftBatch, which is validated. */
export function nftApplyScript(ns: NetnsHandle | undefined, script: string): void {
  if (script.trim() === '') return
  log.debug(`nft script${ns ? ` in ${ns.path}` : ''}: ${script}`)
  run(ns, script, false)
}

/** Whether the table exists in `ns`. */
export function nftTableExists(ns: NetnsHandle | undefined, family: NftFamily, table: string): boolean {
  const out = listJson(ns, { list: { tables: { family: checkFamily(family) } } })
  return out.some((o) => o['table']?.['name'] === table && o['table']?.['family'] === family)
}

/**
 * The chains of a family, (table, name) only: cheap whatever the tables hold, since libnftables then
 * loads neither rules nor set elements (listing a table loads them all).
 */
export function nftListChains(ns: NetnsHandle | undefined, family: NftFamily): { table: string; name: string }[] {
  return listJson(ns, { list: { chains: { family: checkFamily(family) } } })
    .map((o) => o['chain'])
    .filter((c) => c !== undefined)
    .map((c) => ({ table: String(c['table']), name: String(c['name']) }))
}

/**
 * The table's contents as libnftables lists them (`nft -j list table`), without the metainfo object;
 * undefined when the table does not exist.
 */
export function nftList(ns: NetnsHandle | undefined, family: NftFamily, table: string): NftObject[] | undefined {
  checkName('table', table)
  if (!nftTableExists(ns, family, table)) return undefined
  try {
    return listJson(ns, { list: { table: { family, name: table } } })
  } catch (e) {
    // Deleted between the two calls: the same answer as before it existed.
    if (e instanceof CniError && !nftTableExists(ns, family, table)) return undefined
    throw e
  }
}

/** The elements of a set or map, with comments; undefined when the table or the set does not exist. */
export function nftListElements(ns: NetnsHandle | undefined, family: NftFamily, table: string, set: string): NftElement[] | undefined {
  checkName('set', set)
  const listing = nftList(ns, family, table)
  return listing === undefined ? undefined : elementsOf(listing, set)
}

/** Extracts a set's or map's elements from a listing (pure; undefined when no set or map has that name). */
export function elementsOf(listing: readonly NftObject[], set: string): NftElement[] | undefined {
  const obj = listing.map((o) => o['set'] ?? o['map']).find((s) => s !== undefined && s['name'] === set)
  if (obj === undefined) return undefined
  const elem = obj['elem']
  if (elem === undefined || elem === null) return []
  const items = Array.isArray(elem) ? (elem as readonly NftJson[]) : [elem]
  const isMap = 'map' in obj
  return items.map((item) => {
    if (isMap && Array.isArray(item) && item.length === 2) return { ...unwrapElem(item[0] as NftJson), value: item[1] as NftJson }
    return unwrapElem(item)
  })
}

/** The rules of one chain in a listing, with their handles and comments. */
export function rulesOf(listing: readonly NftObject[], chain: string): { handle: number; comment?: string; expr: readonly NftJson[] }[] {
  return listing
    .map((o) => o['rule'])
    .filter((r) => r !== undefined && r['chain'] === chain)
    .map((r) => ({
      handle: Number(r!['handle']),
      ...(typeof r!['comment'] === 'string' && { comment: r!['comment'] }),
      expr: Array.isArray(r!['expr']) ? (r!['expr'] as readonly NftJson[]) : [],
    }))
}

function unwrapElem(item: NftJson): NftElement {
  if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
    const o = item as { readonly [k: string]: NftJson }
    const inner = o['elem']
    if (Object.keys(o).length === 1 && typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
      const e = inner as { readonly [k: string]: NftJson }
      return {
        key: e['val'] ?? null,
        ...(typeof e['comment'] === 'string' && { comment: e['comment'] }),
        ...(typeof e['timeout'] === 'number' && { timeout: e['timeout'] }),
      }
    }
  }
  return { key: item }
}

function listJson(ns: NetnsHandle | undefined, cmd: NftJson): NftObject[] {
  const out = run(ns, JSON.stringify({ nftables: [cmd] }), true)
  let parsed: unknown
  try {
    parsed = JSON.parse(out)
  } catch (e) {
    throw new CniError(CniCode.FirewallFailed, 'failed to parse nftables listing', out.slice(0, 2000), { cause: e })
  }
  const list = (parsed as { nftables?: unknown }).nftables
  if (!Array.isArray(list)) throw new CniError(CniCode.FirewallFailed, 'failed to parse nftables listing: no "nftables" array', out.slice(0, 2000))
  return (list as NftObject[]).filter((o) => !('metainfo' in o))
}

function run(ns: NetnsHandle | undefined, input: string, json: boolean): string {
  try {
    const { output, error } = withNetnsSync(ns, () => native().nftRun(input, json))
    if (error.trim() !== '') log.warn(`nftables: ${error.trim()}`)
    return output
  } catch (e) {
    if (!(e instanceof SysError) || e.syscall !== 'nft') throw e
    const text = nftErrorText(e)
    throw new CniError(CniCode.FirewallFailed, `failed to apply nftables transaction: ${firstErrorLine(text)}`, text, { cause: e })
  }
}

/** libnftables' error output carried by the addon's SysError('nft', EINVAL, undefined, text). */
export function nftErrorText(e: SysError): string {
  return (e.detail ?? e.message).trim()
}

/** "internal:0:0-0: Error: Could not process rule: File exists" → "Could not process rule: File exists". */
export function firstErrorLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? 'unknown error'
  return line
    .trim()
    .replace(/^\S*:\d+:\d+-\d+: /, '')
    .replace(/^Error: /, '')
}
