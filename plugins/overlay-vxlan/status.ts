// STATUS: the network can take new containers when its store answers (an unreachable store is 11).
import { createLog } from '../../pkg/log/log.js'
import { openStore } from '../../pkg/overlay/store.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'

const log = createLog('overlay-vxlan')

export async function cmdStatus(a: CmdArgs): Promise<void> {
  const cfg = parseOverlayConfig(a.conf, a.env)
  const store = openStore(cfg.net.store)
  try {
    await store.getNetwork(cfg.net.name)
  } finally {
    await store.close().catch((e: unknown) => log.warn(`closing the store: ${String(e)}`))
  }
}
