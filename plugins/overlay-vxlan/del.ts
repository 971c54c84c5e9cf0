// DEL: the delegated bridge DEL with the configuration ADD saved, then the record. Idempotent (no record:
// nothing to do). The per-host VTEP, lease and peer entries stay: the agent and GC own those, and other
// containers of the host use them. The store is never contacted, so DEL works while it is down.
import { delegateDel } from '../../pkg/invoke/delegate.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'
import { bridgeTarget, loadBridgeConf, removeBridgeConf, statePath, withPrevResult } from './delegate.js'

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseOverlayConfig(a.conf, a.env)
  const path = statePath(cfg, a)
  const conf = loadBridgeConf(path)
  if (conf === undefined) return
  await delegateDel(bridgeTarget(a, withPrevResult(conf, a.conf)))
  removeBridgeConf(path)
}
