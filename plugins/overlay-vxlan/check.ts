// CHECK: this host holds a live lease on the subnet the attachment was made in, the VTEP is there with
// its address, and the delegated bridge CHECK passes. A missing piece is CniError 103 naming it.
import { delegateCheck } from '../../pkg/invoke/delegate.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { openStore } from '../../pkg/overlay/store.js'
import { findUnderlay } from '../../pkg/overlay/underlay.js'
import { checkVtep } from '../../pkg/overlay/vtep.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'
import { bridgeTarget, loadBridgeConf, statePath, withPrevResult } from './delegate.js'

const log = createLog('overlay-vxlan')

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseOverlayConfig(a.conf, a.env)
  const conf = loadBridgeConf(statePath(cfg, a))
  if (conf === undefined) throw new CniError(CniCode.KernelFailure, `no overlay attachment of ${a.containerId} ${a.ifName} on network ${cfg.net.name} on this host`)
  const subnet = subnetOf(conf)
  const store = openStore(cfg.net.store)
  let rt: Rtnl | undefined
  try {
    rt = openRtnl()
    const underlay = await findUnderlay(rt, cfg.net.underlayInterface)
    const lease = (await store.list(cfg.net.name)).find((l) => l.hostId === underlay.ip)
    if (lease === undefined) throw new CniError(CniCode.KernelFailure, `this host (${underlay.ip}) holds no live lease on overlay network ${cfg.net.name}`)
    if (subnet !== undefined && lease.subnet !== subnet) {
      throw new CniError(CniCode.KernelFailure, `this host's lease moved from ${subnet} to ${lease.subnet}: the container must be re-attached`)
    }
    const bad = await checkVtep(rt, cfg.net, lease.subnet)
    if (bad !== undefined) throw new CniError(CniCode.KernelFailure, bad)
  } finally {
    rt?.close()
    await store.close().catch((e: unknown) => log.warn(`closing the store: ${String(e)}`))
  }
  await delegateCheck(bridgeTarget(a, withPrevResult(conf, a.conf)))
}

function subnetOf(conf: Record<string, unknown>): string | undefined {
  const ipam = conf['ipam'] as { ranges?: { subnet?: unknown }[][] } | undefined
  const s = ipam?.ranges?.[0]?.[0]?.subnet
  return typeof s === 'string' ? s : undefined
}
