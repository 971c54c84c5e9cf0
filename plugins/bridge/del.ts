// DEL: best effort and idempotent. Removes the container's veth (the kernel removes the host end with it)
// and releases IPAM. When CNI_NETNS is empty or its path is gone, the namespace may still be alive (held
// by another process), so the host veth is looked up by the owner tag ADD put in its alias and deleted
// from the host side. A missing interface is "already deleted"; IPAM is released in every case.
// Nothing here needs prevResult.
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delegateDel } from '../../pkg/invoke/delegate.js'
import { delLinkIfExists, linkByName } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { removeHostVethsByOwner } from './iface.js'
import { ipamTarget } from './ipam.js'
import { parseBridgeConfig } from './config.js'
import { masqOwner, teardownMasquerade } from './masq.js'
import { teardownIptMasquerade } from './masq-iptables.js'
import { teardownSpoofCheck } from './spoofchk.js'

const log = createLog('bridge')

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args, { strict: false })
  const errors = new ErrorList()
  const owner = masqOwner(cfg.netConf.name, a.containerId, a.ifName)

  // 1. The container's interface, while its namespace can be reached through CNI_NETNS.
  let reached = false
  if (a.netns !== '') {
    await errors.attempt(`delete ${a.ifName} in ${a.netns}`, async () => {
      let cont: NetnsHandle
      try {
        cont = NetnsHandle.open(a.netns)
      } catch (e) {
        if (e instanceof NetnsNotFoundError) {
          log.info(`DEL: namespace path ${a.netns} is gone (${e.errnoCode}); looking for the host veth by owner`)
          return
        }
        throw e
      }
      reached = true
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

  // 1b. Without the namespace: the host veth tagged with this owner, if the namespace lives on elsewhere.
  if (!reached) {
    await errors.attempt(`delete the host veth of ${a.ifName}`, async () => {
      const rt = openRtnl()
      try {
        const gone = await removeHostVethsByOwner(rt, owner)
        if (gone.length > 0) log.info(`DEL: deleted host veth ${gone.join(', ')} by its owner tag`)
      } finally {
        rt.close()
      }
    })
  }

  // 2. The address lease.
  if (cfg.layer3) await errors.attempt(`release IPAM (${cfg.netConf.ipam?.type ?? ''})`, () => delegateDel(ipamTarget(a, cfg)))

  // 3. NAT elements, found by the owner tag in their comment (no netns or prevResult needed).
  if (cfg.layer3 && cfg.ipMasq) {
    if (cfg.ipMasqBackend === 'iptables') await errors.attempt('remove NAT rules', () => teardownIptMasquerade(undefined, owner))
    else await errors.attempt('remove NAT elements', () => teardownMasquerade(undefined, owner))
  }

  // 4. MAC spoof check elements, by owner as well.
  if (cfg.macspoofchk) {
    await errors.attempt('remove MAC spoof check', () => teardownSpoofCheck(undefined, owner))
  }

  errors.throwIfAny(`failed to delete ${a.ifName} of container ${a.containerId}`)
}
