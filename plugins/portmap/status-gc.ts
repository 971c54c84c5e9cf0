// STATUS: nothing to ask (portmap needs no IPAM or daemon). GC: with cni.dev/valid-attachments, removes this
// network's elements whose owner is none of the valid attachments; without a list, nothing.
import { validAttachments } from '../../pkg/cni/schema.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parsePortmapConfig } from './config.js'
import { apply, gcBatch, listTable } from './nft.js'
import { portmapOwner } from './plan.js'

export async function cmdStatus(_a: CmdArgs): Promise<void> {}

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parsePortmapConfig({ ...a.conf, runtimeConfig: { ...a.conf.runtimeConfig, portMappings: [] } })
  const valid = validAttachments(cfg.netConf)
  if (valid === undefined) return
  const name = cfg.netConf.name
  const keep = new Set(valid.map((v) => portmapOwner(name, v.containerID, v.ifname).tag))
  apply(undefined, gcBatch(portmapOwner(name, '', '').netTag, keep, listTable(undefined)))
}
