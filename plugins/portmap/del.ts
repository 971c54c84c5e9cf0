// DEL: removes the attachment's elements (nftables: by the keys its record lists, else found by the owner
// tag in their comments; iptables: rules found by their comment) and its reservations, then flushes
// UDP/SCTP conntrack entries DNATed to the container. Needs neither the netns nor prevResult; a second
// DEL finds nothing and succeeds.
import { createLog } from '../../pkg/log/log.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parsePortmapConfig } from './config.js'
import { flushConntrack, type FlushSpec } from './conntrack.js'
import { delIptBatch, iptablesPresent, restore, saveTables } from './ipt.js'
import type { Entry } from './plan.js'
import { portmapOwner } from './plan.js'
import { PortmapState } from './records.js'
import { removeAttachment } from './sync.js'

const log = createLog('portmap')

export async function cmdDel(a: CmdArgs): Promise<void> {
  // Mappings are not needed (and not validated strictly): DEL works from records and the kernel.
  const cfg = parsePortmapConfig({ ...a.conf, runtimeConfig: { ...a.conf.runtimeConfig, portMappings: [] } })
  const owner = portmapOwner(cfg.netConf.name, a.containerId, a.ifName)
  const removed: Pick<Entry, 'family' | 'protocol' | 'containerIP'>[] = []
  const state = PortmapState.open()
  await state.locked(async () => {
    const rec = state.readOwner(owner.tag)
    if (cfg.backend === 'iptables') {
      for (const f of [4, 6] as const) {
        // No iptables on the host: nothing of ours can be there.
        if (!iptablesPresent(f)) continue
        const r = delIptBatch(f, owner, (await saveTables(f)).nat)
        await restore(r.batch)
        removed.push(...r.removed)
      }
      // A record of the nftables backend (the config changed in between) is removed the same way.
      if (rec?.backend === 'iptables') state.forget(rec)
      else removed.push(...removeAttachment(state, owner.tag, rec))
      return
    }
    removed.push(...removeAttachment(state, owner.tag, rec))
  })
  const flushes = new Map<string, FlushSpec>()
  for (const e of removed) {
    if (e.protocol === 'tcp') continue
    flushes.set(`${e.family}|${e.protocol}|${e.containerIP}`, { family: e.family, protocol: e.protocol, replySrc: e.containerIP })
  }
  await flushConntrack([...flushes.values()], log)
}
