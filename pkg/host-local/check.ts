// CHECK: (container ID, ifname) holds an address in every range set. The reference only asks for one
// address anywhere in the network; one per set is what its ADD promised, so a lost v6 reservation of a
// dual-stack attachment is reported too. A legacy (ID-only) reservation counts, as in the reference.
import { CniCode, CniError } from '../errors/cni-error.js'
import type { CmdArgs } from '../skel/skel.js'
import { findOwned } from './allocator.js'
import { parseHostLocalConfig } from './config.js'
import { DiskStore } from './disk-store.js'
import { formatRangeSet } from './range-set.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseHostLocalConfig(a.conf, a.args)
  const owner = { containerId: a.containerId, ifName: a.ifName }
  const missing = (what: string) =>
    new CniError(CniCode.UnknownContainer, `host-local: failed to find address added by container ${a.containerId} (interface ${a.ifName}) ${what}`)
  const store = DiskStore.openExisting(cfg)
  if (store === undefined) throw missing(`in network ${cfg.name}: no reservations`)
  await store.locked(() => {
    cfg.rangeSets.forEach((set) => {
      if (findOwned(store, set, owner).length === 0) throw missing(`in range set ${formatRangeSet(set)} of network ${cfg.name}`)
    })
  })
}
