// Keeps the nftables table and the on-disk records (records.ts) in step, and removes an attachment's
// elements: by the keys its record lists (cost independent of the number of mappings), else by listing
// the table and matching the owner tag in comments (tables of the first layout, lost records, elements
// removed behind our back).
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { createLog } from '../../pkg/log/log.js'
import type { NftObject } from '../../pkg/firewall/nft.js'
import { apply, declareFixed, deleteKeysBatch, listedTags, listTable, purgeBatch, tableState, type HairpinElement, type TableState } from './nft.js'
import type { Entry } from './plan.js'
import { installOffsetNat } from './offset-nat.js'
import { newGeneration, type OwnerRecord, type PortmapState } from './records.js'

const log = createLog('portmap')

/**
 * Declares the table when it or its layout marker is missing (a table of the first layout is kept and
 * marked legacy; one of layout 2 is upgraded in place, its records stay valid), and wipes records that
 * describe another table. `env`: the call's environment (for offset-nat.ts's test seam). Cheap when all is in place: one `list chains`.
 */
export function syncLayout(state: PortmapState, env: Readonly<Record<string, string | undefined>>): TableState {
  const ts = tableState(undefined)
  if (ts.gen === undefined) {
    // Layout 3 only adds to layout 2: a layout-2 table our records describe keeps its generation.
    const upgrade = ts.prevGen !== undefined && ts.prevGen === state.generation()
    const gen = upgrade ? ts.prevGen! : newGeneration()
    // An existing table without our marker was made by an older layout: its elements have no records.
    if (!upgrade) state.reset(gen, ts.exists)
    declareFixed(undefined)
    const offsetNat = installOffsetNat(gen, env)
    return { exists: true, gen, prevGen: ts.prevGen, guard: ts.guard, offsetNat }
  }
  if (ts.gen !== state.generation()) state.reset(ts.gen, true)
  return ts
}

/** Whether every element of the table has a record (so a missing record means nothing to delete). */
export function recordsComplete(state: PortmapState, ts: TableState): boolean {
  return ts.gen !== undefined && ts.gen === state.generation() && !state.legacy
}

/**
 * Removes the attachment's nftables elements (and the shared hairpin elements only it used) and its
 * record; returns the entries removed (for conntrack).
 */
export function removeAttachment(state: PortmapState, tag: string, rec: OwnerRecord | undefined): Pick<Entry, 'family' | 'protocol' | 'containerIP'>[] {
  if (rec !== undefined) {
    if (rec.backend === 'nftables') {
      const lastHairpin = state.unusedHairpin(rec.hairpin, tag)
      try {
        apply(undefined, deleteKeysBatch([...rec.elements, ...lastHairpin]))
      } catch (e) {
        if (!(e instanceof CniError) || e.code !== CniCode.FirewallFailed) throw e
        // Some element is gone already (or the table): delete what is left of ours, found by listing.
        log.debug(`delete by key failed (${e.message}); deleting by owner tag`)
        apply(undefined, purgeBatch(tag, listTable(undefined)).batch)
        deleteEach(lastHairpin)
      }
    }
    state.forget(rec)
    return rec.entries
  }
  const ts = tableState(undefined)
  if (!ts.exists || recordsComplete(state, ts)) return []
  const listing = listTable(undefined)
  const r = purgeBatch(tag, listing)
  apply(undefined, r.batch)
  if (listing !== undefined) settleLegacy(state, listing, tag)
  return r.removed
}

/** Deletes these hairpin elements if no attachment uses them any more (after records were forgotten). */
export function deleteUnusedHairpin(state: PortmapState, hairpin: readonly HairpinElement[]): void {
  const names = new Set<string>()
  deleteEach(state.unusedHairpin(hairpin).filter((h) => !names.has(h.name) && names.add(h.name)))
}

/** Deletes elements one transaction each, ignoring those already gone. */
function deleteEach(elements: readonly HairpinElement[]): void {
  for (const h of elements) {
    try {
      apply(undefined, deleteKeysBatch([h]))
    } catch (e) {
      if (!(e instanceof CniError) || e.code !== CniCode.FirewallFailed) throw e
    }
  }
}

/**
 * In a legacy state, with a listing at hand: when every element left (all but `goneTag`'s) has a record,
 * the state is no longer legacy and ADD and DEL stop listing.
 */
export function settleLegacy(state: PortmapState, listing: readonly NftObject[], goneTag: string): void {
  if (!state.legacy) return
  for (const tag of listedTags(listing)) if (tag !== goneTag && state.readOwner(tag) === undefined) return
  state.clearLegacy()
}
