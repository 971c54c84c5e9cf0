// STATUS: ready unless the data directory cannot be written or a range set has no free address (50,
// naming which). Before counting, it releases reservations berth recorded in an earlier boot: with a
// persistent dataDir they would otherwise fill the ranges after enough reboots, and nothing else would
// ever free them when the runtime does not send GC.
import { accessSync, statSync, constants as fsc } from 'node:fs'
import { dirname } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'
import type { CmdArgs } from '../skel/skel.js'
import { releaseEarlierBoots } from './allocator.js'
import { parseHostLocalConfig } from './config.js'
import { DiskStore, networkDir } from './disk-store.js'
import { formatRangeSet, rangeSetContains, rangeSetSize } from './range-set.js'

export async function cmdStatus(a: CmdArgs): Promise<void> {
  const cfg = parseHostLocalConfig(a.conf)
  checkWritable(networkDir(cfg))
  const store = DiskStore.openExisting(cfg)
  if (store === undefined) return
  await store.locked(() => {
    releaseEarlierBoots(store)
    store.sweep()
    const all = store.list()
    for (const set of cfg.rangeSets) {
      const size = rangeSetSize(set)
      const used = BigInt(all.filter((r) => rangeSetContains(set, r.ip)).length)
      if (used >= size) {
        throw new CniError(CniCode.NotAvailable, `range set ${formatRangeSet(set)} of network ${cfg.name} is full (${used} of ${size} addresses reserved)`)
      }
    }
  })
}

/** The directory, or the nearest ancestor that exists (ADD would create the rest), must be writable. */
function checkWritable(dir: string): void {
  for (let p = dir; ; p = dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) throw new Error(`${p} is not a directory`)
      accessSync(p, fsc.W_OK)
      return
    } catch (e) {
      if (errorCode(e) === 'ENOENT' && dirname(p) !== p) continue
      const why = errorCode(e) ?? (e instanceof Error ? e.message : String(e))
      throw new CniError(CniCode.NotAvailable, `data directory ${dir} is not writable: ${why}`)
    }
  }
}
