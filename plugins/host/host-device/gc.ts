// GC (spec 1.1): attachments of this network that the runtime no longer lists as valid get their
// device back (as DEL would) and lose their state file; then the IPAM plugin collects its own leases.
// STATUS: the IPAM plugin's answer, when there is one (host-device itself is always ready).
import { validAttachments } from '../../../pkg/cni/schema.js'
import { ErrorList } from '../../../pkg/errors/error-list.js'
import { describe } from '../../../pkg/errors/describe.js'
import { delegateRun } from '../../../pkg/invoke/delegate.js'
import { hasIpam, ipamTarget } from '../../../pkg/ipam/target.js'
import { openRtnl, type Rtnl } from '../../../pkg/link/rtnl.js'
import { createLog } from '../../../pkg/log/log.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { parseHostDeviceConfig } from './config.js'
import { returnDevice } from './device.js'
import { listStates, removeState, withStateLock } from './state.js'

const log = createLog('host-device')

export async function cmdGc(a: CmdArgs): Promise<void> {
  const valid = validAttachments(a.conf)
  if (valid === undefined) return
  const cfg = parseHostDeviceConfig(a.conf, { lenient: true, env: a.env })
  const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`))
  const errors = new ErrorList()
  await withStateLock(cfg.stateDir, async () => {
    const stale = listStates(cfg.stateDir).filter((s) => s.network === a.conf.name && !keep.has(`${s.containerId}\0${s.ifName}`))
    if (stale.length === 0) return
    const hostNs = NetnsHandle.current()
    const rtHost = openRtnl(hostNs)
    try {
      for (const s of stale) {
        const key = { stateDir: cfg.stateDir, network: s.network, containerId: s.containerId, ifName: s.ifName }
        await errors.attempt(`collect ${s.containerId}/${s.ifName}`, async () => {
          const device = s.device
          if (device !== null) {
            let cont: NetnsHandle | undefined
            let rtCont: Rtnl | undefined
            try {
              try {
                cont = NetnsHandle.open(s.netns)
                rtCont = openRtnl(cont)
              } catch (e) {
                log.info(`GC: namespace ${s.netns} of ${s.containerId} is gone: ${describe(e)}`)
              }
              await returnDevice({ rtHost, hostNs, rtCont, ifName: s.ifName, device }, log)
            } finally {
              rtCont?.close()
              cont?.close()
            }
          }
          removeState(key)
        })
      }
    } finally {
      rtHost.close()
      hostNs.close()
    }
  })
  if (cfg.ipam) await errors.attempt(`GC in IPAM (${a.conf.ipam?.type ?? ''})`, () => delegateRun(ipamTarget(a), 'GC'))
  errors.throwIfAny('host-device GC')
}

export async function cmdStatus(a: CmdArgs): Promise<void> {
  if (hasIpam(a)) await delegateRun(ipamTarget(a), 'STATUS')
}
