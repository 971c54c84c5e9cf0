// STATUS: nothing to ask (portmap needs no IPAM or daemon). GC: with cni.dev/valid-attachments, removes this
// network's elements (found by listing: GC is rare) and records whose owner is none of the valid
// attachments; without a list, nothing.
import { validAttachments } from '../../pkg/cni/schema.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parsePortmapConfig } from './config.js'
import { gcIptBatch, iptablesPresent, restore, saveTables } from './ipt.js'
import { apply, gcBatch, listTable } from './nft.js'
import { portmapOwner } from './plan.js'
import { PortmapState } from './records.js'
import { deleteUnusedHairpin } from './sync.js'

export async function cmdStatus(_a: CmdArgs): Promise<void> {}

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parsePortmapConfig({ ...a.conf, runtimeConfig: { ...a.conf.runtimeConfig, portMappings: [] } })
  const valid = validAttachments(cfg.netConf)
  if (valid === undefined) return
  const name = cfg.netConf.name
  const keep = new Set(valid.map((v) => portmapOwner(name, v.containerID, v.ifname).tag))
  const netTag = portmapOwner(name, '', '').netTag
  const state = PortmapState.open()
  await state.locked(async () => {
    if (cfg.backend === 'iptables') {
      for (const f of [4, 6] as const) if (iptablesPresent(f)) await restore(gcIptBatch(f, netTag, keep, (await saveTables(f)).nat))
    } else {
      apply(undefined, gcBatch(netTag, keep, listTable(undefined)))
    }
    // Records of the backend just collected (elements are gone now, reservations go with them).
    const gone = state.owners().filter((rec) => rec.netTag === netTag && rec.backend === cfg.backend && !keep.has(rec.tag))
    for (const rec of gone) state.forget(rec)
    deleteUnusedHairpin(state, gone.flatMap((r) => r.hairpin))
  })
}
