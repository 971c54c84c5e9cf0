// DEL: release whatever (container ID, ifname) holds in the network, or, when it holds nothing under that
// pair, what a legacy reservation recorded under its ID alone (the reference's fallback). Idempotent: no
// directory or no reservation is success. Only the name and dataDir are parsed, so a config whose ranges
// changed or broke since ADD can still release its addresses; CNI_ARGS are not read either.
// Reads only this attachment's reservations (the owner index): its cost does not grow with the number of
// reservations in the network. Sweeping what the reference left behind is GC's and STATUS's job.
import type { CmdArgs } from '../skel/skel.js'
import { releaseOwner } from './allocator.js'
import { parseStoreLocation } from './config.js'
import { DiskStore } from './disk-store.js'

export async function cmdDel(a: CmdArgs): Promise<void> {
  const store = DiskStore.openExisting(parseStoreLocation(a.conf))
  if (store === undefined) return
  await store.locked(() => releaseOwner(store, { containerId: a.containerId, ifName: a.ifName }))
}
