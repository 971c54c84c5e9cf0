// GC (spec 1.1.0): remove this network's state files whose attachment is not among the valid ones. The
// interfaces they describe are gone with their containers, so there is nothing to restore. Files of other
// networks and files without an owner (written by the reference plugin) are left alone.
import { validAttachments } from '../../pkg/cni/schema.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseTuningConfig } from './config.js'
import { listStates, removeState } from './state.js'

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parseTuningConfig(a.conf, a.args, { strict: false })
  const valid = validAttachments(cfg.netConf)
  if (valid === undefined) return
  const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`))
  const errors = new ErrorList()
  for (const { path, owner } of listStates(cfg.dataDir)) {
    if (owner.network !== cfg.netConf.name || keep.has(`${owner.containerID}\0${owner.ifName}`)) continue
    await errors.attempt(`remove ${path}`, () => removeState(path))
  }
  errors.throwIfAny(`GC of network ${cfg.netConf.name} failed`)
}
