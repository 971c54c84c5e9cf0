// ADD: the host side first (store, VTEP, lease, NAT, one synchronous reconcile so the container works
// before any agent runs), then the container through the delegated bridge plugin. Nothing is created
// before the store has answered (unreachable → 11); every change registers its undo.
import type { CniResult } from '../../pkg/cni/result.js'
import { delegateAdd, delegateDel } from '../../pkg/invoke/delegate.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { prepareHost, syncPeers } from '../../pkg/overlay/host.js'
import { openStore } from '../../pkg/overlay/store.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'
import { bridgeConf, bridgeTarget, removeBridgeConf, saveBridgeConf, statePath } from './delegate.js'

const log = createLog('overlay-vxlan')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseOverlayConfig(a.conf, a.env)
  const path = statePath(cfg, a)
  const store = openStore(cfg.net.store)
  const rb = new Rollback()
  let rt: Rtnl | undefined
  try {
    rt = openRtnl()
    // 1. Host side: underlay, network record, VTEP, lease, NAT.
    const host = await prepareHost({ rt, ns: undefined, net: cfg.net, store, rb, log })
    // 2. One synchronous reconcile against the live leases.
    await syncPeers(rt, cfg.net, host, await store.list(cfg.net.name))
    // 3. The container: bridge + veth + host-local over the leased subnet. The record goes first so a
    //    DEL after a crash in between still finds what to undo.
    const conf = bridgeConf(cfg, host.lease, host.vtep.mtu)
    saveBridgeConf(path, conf)
    rb.defer(`remove ${path}`, () => removeBridgeConf(path))
    const target = bridgeTarget(a, conf)
    const result = await delegateAdd(target)
    rb.defer('delegated bridge DEL', () => delegateDel(target))
    rb.commit()
    return { ...result, cniVersion: a.conf.cniVersion }
  } finally {
    await rb.settle(log)
    rt?.close()
    await store.close().catch((e: unknown) => log.warn(`closing the store: ${String(e)}`))
  }
}
