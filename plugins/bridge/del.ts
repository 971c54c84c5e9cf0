// DEL: best effort and idempotent. Removes the container's veth (the kernel removes the host end with it)
// and releases IPAM. A missing CNI_NETNS, a namespace that is gone, or an interface that is gone are all
// "already deleted"; IPAM is released in every case. Nothing here needs prevResult.
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delegateDel } from '../../pkg/invoke/delegate.js'
import { delLinkIfExists, linkByName } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { ipamTarget } from './ipam.js'
import { parseBridgeConfig } from './config.js'
import { masqOwner, teardownMasquerade } from './masq.js'
import { teardownSpoofCheck } from './spoofchk.js'

const log = createLog('bridge')

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args, { strict: false })
  const errors = new ErrorList()

  // 1. The container's interface, while its namespace exists.
  if (a.netns !== '') {
    await errors.attempt(`delete ${a.ifName} in ${a.netns}`, async () => {
      let cont: NetnsHandle
      try {
        cont = NetnsHandle.open(a.netns)
      } catch (e) {
        if (e instanceof NetnsNotFoundError) {
          log.info(`DEL: namespace ${a.netns} is gone (${e.errnoCode}); its veth went with it`)
          return
        }
        throw e
      }
      const rt = openRtnl(cont)
      try {
        const link = await linkByName(rt, a.ifName)
        if (link === undefined) return
        if (link.kind !== 'veth') {
          log.warn(`DEL: ${a.ifName} in ${a.netns} is a ${link.kind ?? 'device'}, not a veth: left alone`)
          return
        }
        await delLinkIfExists(rt, link.index)
      } finally {
        rt.close()
        cont.close()
      }
    })
  }

  // 2. The address lease.
  if (cfg.layer3) await errors.attempt(`release IPAM (${cfg.netConf.ipam?.type ?? ''})`, () => delegateDel(ipamTarget(a, cfg)))

  // 3. NAT elements, found by the owner tag in their comment (no netns or prevResult needed).
  if (cfg.layer3 && cfg.ipMasq) {
    await errors.attempt('remove NAT elements', () => teardownMasquerade(undefined, masqOwner(cfg.netConf.name, a.containerId, a.ifName)))
  }

  // 4. MAC spoof check elements, by owner as well.
  if (cfg.macspoofchk) {
    await errors.attempt('remove MAC spoof check', () => teardownSpoofCheck(undefined, masqOwner(cfg.netConf.name, a.containerId, a.ifName)))
  }

  errors.throwIfAny(`failed to delete ${a.ifName} of container ${a.containerId}`)
}
