// DEL: removes the elements owned by (network, container ID, ifname), found by the tag in their comment,
// in one transaction; then flushes UDP/SCTP conntrack entries DNATed to the container. Needs neither the
// netns nor prevResult; a second DEL finds nothing and succeeds.
import { createLog } from '../../pkg/log/log.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parsePortmapConfig } from './config.js'
import { flushConntrack, type FlushSpec } from './conntrack.js'
import { delIptBatch, iptablesPresent, restore, saveTables } from './ipt.js'
import { apply, delBatch, listTable, type ListedEntry } from './nft.js'
import { portmapOwner } from './plan.js'

const log = createLog('portmap')

export async function cmdDel(a: CmdArgs): Promise<void> {
  // Mappings are not needed (and not validated strictly): DEL works from what is in the table.
  const cfg = parsePortmapConfig({ ...a.conf, runtimeConfig: { ...a.conf.runtimeConfig, portMappings: [] } })
  const owner = portmapOwner(cfg.netConf.name, a.containerId, a.ifName)
  const removed: ListedEntry[] = []
  if (cfg.backend === 'iptables') {
    for (const f of [4, 6] as const) {
      // No iptables on the host: nothing of ours can be there.
      if (!iptablesPresent(f)) continue
      const r = delIptBatch(f, owner, (await saveTables(f)).nat)
      await restore(r.batch)
      removed.push(...r.removed)
    }
  } else {
    const r = delBatch(owner, listTable(undefined))
    apply(undefined, r.batch)
    removed.push(...r.removed)
  }
  const flushes = new Map<string, FlushSpec>()
  for (const e of removed) {
    if (e.protocol === 'tcp') continue
    flushes.set(`${e.family}|${e.protocol}|${e.containerIP}`, { family: e.family, protocol: e.protocol, replySrc: e.containerIP })
  }
  flushConntrack([...flushes.values()], log)
}
