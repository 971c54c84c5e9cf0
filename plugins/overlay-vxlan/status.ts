// STATUS: the network can take new containers when its store answers (an unreachable store is 11).
// GC: every attachment record of the network on this host that is not among the runtime's valid
// attachments gets the delegated bridge DEL (no netns: the bridge finds its host veth by owner) and goes;
// then the bridge's own GC with the same list, so host-local also releases reservations that have no
// record (an ADD killed between IPAM and its record, or a record removed by hand).
import { validAttachments } from '../../pkg/cni/schema.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delegateDel, delegateRun } from '../../pkg/invoke/delegate.js'
import { createLog } from '../../pkg/log/log.js'
import { openStore } from '../../pkg/overlay/store.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseOverlayConfig } from './config.js'
import { gcBridgeConf, listRecords, removeBridgeConf } from './delegate.js'

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

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parseOverlayConfig(a.conf, a.env)
  const valid = validAttachments(a.conf)
  // No list: the runtime asked for nothing to be collected.
  if (valid === undefined) return
  const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`))
  const errors = new ErrorList()
  for (const rec of listRecords(cfg)) {
    if (keep.has(`${rec.containerID}\0${rec.ifname}`)) continue
    await errors.attempt(`DEL of stale attachment ${rec.containerID} ${rec.ifname}`, async () => {
      await delegateDel({
        type: 'bridge',
        path: a.path,
        env: { ...a.env, CNI_CONTAINERID: rec.containerID, CNI_IFNAME: rec.ifname, CNI_NETNS: '' },
        stdin: Buffer.from(JSON.stringify(rec.bridge)),
      })
      removeBridgeConf(rec.path)
    })
  }
  await errors.attempt('bridge and IPAM GC', async () => {
    const { CNI_CONTAINERID: _id, CNI_IFNAME: _if, CNI_NETNS: _ns, ...env } = a.env
    await delegateRun({ type: 'bridge', path: a.path, env, stdin: Buffer.from(JSON.stringify(gcBridgeConf(cfg, valid))) }, 'GC')
  })
  errors.throwIfAny(`GC of network ${cfg.net.name} failed`)
}
