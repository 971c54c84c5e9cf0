// ADD: the host side first (store, VTEP, lease, NAT, one synchronous reconcile so the container works
// before any agent runs), then the container through the delegated bridge plugin. Nothing is created
// before the store has answered (unreachable → 11); every change registers its undo.
//
// Concurrent ADDs on one host: the host side and the attachment record are made under a per-network lock,
// and undoing the host side (also under it) happens only while no other attachment of the network has a
// record, so one ADD's rollback never takes the VTEP or lease from another's container.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { CniResult } from '../../pkg/cni/result.js'
import { delegateAdd, delegateDel } from '../../pkg/invoke/delegate.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { withLock } from '../../pkg/lock/lock.js'
import { createLog } from '../../pkg/log/log.js'
import { prepareHost, syncPeers } from '../../pkg/overlay/host.js'
import { openStore } from '../../pkg/overlay/store.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'
import { bridgeConf, bridgeTarget, otherRecords, removeBridgeConf, saveBridgeConf, statePath } from './delegate.js'

const log = createLog('overlay-vxlan')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  // The container's namespace is only opened by the delegated bridge; check it first so a bad CNI_NETNS
  // is code 4 before any host-side work (lease, VTEP) is done and undone.
  NetnsHandle.open(a.netns).close()
  const cfg = parseOverlayConfig(a.conf, a.env)
  const path = statePath(cfg, a)
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 })
  const lockPath = join(cfg.stateDir, `${cfg.netConf.name}.lock`)
  const store = openStore(cfg.net.store)
  const rb = new Rollback()
  const hostRb = new Rollback()
  let rt: Rtnl | undefined
  try {
    rt = openRtnl()
    const r = rt
    const host = await withLock(lockPath, async () => {
      try {
        // 1. Host side: underlay, network record, VTEP, lease, NAT.
        const h = await prepareHost({ rt: r, ns: undefined, net: cfg.net, store, rb: hostRb, log })
        // 2. One synchronous reconcile against the live leases.
        await syncPeers(r, cfg.net, h, await store.list(cfg.net.name))
        // 3. The attachment record, before the lock goes: another ADD's rollback then sees this one. It
        //    also lets a DEL after a crash further on find what to undo.
        saveBridgeConf(path, a, bridgeConf(cfg, h.lease, h.vtep.mtu))
        return h
      } catch (e) {
        await hostRb.settle(log)
        throw e
      }
    })
    rb.defer('undo the host side unless another attachment uses it', () =>
      withLock(lockPath, async () => {
        if (otherRecords(path).length === 0) await hostRb.settle(log)
      }),
    )
    rb.defer(`remove ${path}`, () => removeBridgeConf(path))
    // 4. The container: bridge + veth + host-local over the leased subnet.
    const conf = bridgeConf(cfg, host.lease, host.vtep.mtu)
    const target = bridgeTarget(a, conf)
    const result = await delegateAdd(target)
    rb.defer('delegated bridge DEL', () => delegateDel(target))
    rb.commit()
    hostRb.commit()
    return { ...result, cniVersion: a.conf.cniVersion }
  } finally {
    await rb.settle(log)
    rt?.close()
    await store.close().catch((e: unknown) => log.warn(`closing the store: ${String(e)}`))
  }
}
