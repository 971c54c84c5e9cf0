// DEL: give the device back to the host under its original name with its original MTU, addresses and
// up/down state, then release IPAM. Best-effort and idempotent: every step runs, failures are reported
// together at the end, and the state file is removed only when the device is safely back (or gone).
//   - namespace still there, device in it   → move out, rename, restore
//   - namespace gone (or CNI_NETNS empty)   → a physical device is already back in the host (the kernel
//     returns it, keeping its container name or calling it dev<N>): find it by MAC, rename, restore;
//     a virtual device (veth, macvlan, ipvlan, dummy) was deleted with the namespace: nothing to do
//   - no state file                         → nothing of ours to restore (a second DEL), unless the device
//     in the container carries the reference plugin's alias (an ADD made by it): moved out under that name;
//     IPAM is released in every case
import { ErrorList } from '../../../pkg/errors/error-list.js'
import { delegateDel } from '../../../pkg/invoke/delegate.js'
import { ipamTarget } from '../../../pkg/ipam/target.js'
import { openRtnl, type Rtnl } from '../../../pkg/link/rtnl.js'
import { createLog } from '../../../pkg/log/log.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { describe } from '../../../pkg/errors/describe.js'
import { parseHostDeviceConfig } from './config.js'
import { legacyDevice, returnDevice } from './device.js'
import { readState, removeState, withStateLock, type StateKey } from './state.js'

const log = createLog('host-device')

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseHostDeviceConfig(a.conf, { lenient: true, env: a.env })
  const key: StateKey = { stateDir: cfg.stateDir, network: a.conf.name, containerId: a.containerId, ifName: a.ifName }
  await withStateLock(cfg.stateDir, async () => {
    const errors = new ErrorList()
    const st = readState(key)
    await errors.attempt(`return host device${st?.device ? ` ${st.device.name}` : ''}`, async () => {
      const handles: { close(): void }[] = []
      try {
        const contNs = st?.device === null ? undefined : openIfExists(a.netns)
        if (contNs !== undefined) handles.push(contNs)
        const rtCont = contNs === undefined ? undefined : openRtnl(contNs)
        if (rtCont !== undefined) handles.push(rtCont)
        // No state file: nothing of ours, unless the reference plugin made this attachment (its alias).
        let device = st?.device ?? undefined
        if (st === undefined && rtCont !== undefined) {
          device = await legacyDevice(rtCont, a.ifName)
          if (device !== undefined) log.info(`DEL: no state; ${a.ifName} carries the reference plugin's alias ${device.name}: returning it under that name`)
        }
        if (device !== undefined) {
          const d = device
          const hostNs = NetnsHandle.current()
          handles.push(hostNs)
          const rtHost = openRtnl(hostNs)
          handles.push(rtHost)
          const what = await returnDevice({ rtHost, hostNs, rtCont, ifName: a.ifName, device: d }, log)
          if (what === 'gone') log.info(`DEL: host device ${d.name} no longer exists (a virtual device is deleted with its namespace)`)
        }
      } finally {
        for (const h of handles.reverse()) h.close()
      }
    })
    if (cfg.ipam) await errors.attempt(`release IPAM (${a.conf.ipam?.type ?? ''})`, () => delegateDel(ipamTarget(a)))
    if (errors.empty && st !== undefined) removeState(key)
    errors.throwIfAny('host-device DEL')
  })
}

/** The container's namespace, or undefined when it is gone or was not given (the container is gone). */
function openIfExists(path: string): NetnsHandle | undefined {
  if (path === '') return undefined
  try {
    return NetnsHandle.open(path)
  } catch (e) {
    log.info(`DEL: container namespace ${path} is gone: ${describe(e)}`)
    return undefined
  }
}

