// ADD: move the selected host device into the container as CNI_IFNAME, bring it up, apply IPAM.
// Order: validate everything (config, device, target name) → record the device's state → move →
// IPAM. Every step after the state file registers its undo, so a failure leaves the device where it was.
import type { CniInterface, CniResult } from '../../../pkg/cni/result.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { delegateAdd, delegateDel } from '../../../pkg/invoke/delegate.js'
import { configureIface, ipsFor } from '../../../pkg/ipam/configure.js'
import { ipamTarget } from '../../../pkg/ipam/target.js'
import { getLink, linkByName, moveLinkToNetns, setLinkAlias, setLinkDown, setLinkUp, type Link } from '../../../pkg/link/link.js'
import { openRtnl } from '../../../pkg/link/rtnl.js'
import { createLog } from '../../../pkg/log/log.js'
import { NetnsHandle } from '../../../pkg/ns/netns.js'
import { Rollback } from '../../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { parseHostDeviceConfig } from './config.js'
import { findHostDevice, returnDevice, snapshotDevice } from './device.js'
import { readState, removeState, withStateLock, writeState, STATE_VERSION, type AttachmentState, type SavedDevice, type StateKey } from './state.js'
import { isDpdkDevice } from './sysfs.js'

const log = createLog('host-device')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  // The namespace first: a bad CNI_NETNS is reported as such (4) whatever the config says.
  const contNs = NetnsHandle.open(a.netns)
  const handles: { close(): void }[] = [contNs]
  try {
    const cfg = parseHostDeviceConfig(a.conf, { env: a.env })
    const key: StateKey = { stateDir: cfg.stateDir, network: a.conf.name, containerId: a.containerId, ifName: a.ifName }
    return await withStateLock(cfg.stateDir, async () => {
      const existing = readState(key)
      if (existing !== undefined) {
        throw new CniError(
          CniCode.LinkConflict,
          `container ${a.containerId} already has ${a.ifName} from host-device${existing.device ? ` (host device ${existing.device.name})` : ''}: run DEL first`,
        )
      }
      const hostNs = NetnsHandle.current()
      handles.push(hostNs)
      const rtHost = openRtnl(hostNs)
      handles.push(rtHost)
      const rtCont = openRtnl(contNs)
      handles.push(rtCont)
      const sel = cfg.selector
      if (sel === undefined) throw new Error('unreachable: ADD config without selector')
      const rb = new Rollback()
      try {
        let iface: CniInterface | undefined
        let contLink: Link | undefined
        if (sel.by === 'pciBusID' && isDpdkDevice(sel.value)) {
          // A DPDK function has no kernel link: nothing to move (as the reference), IPAM only.
          writeState(key, state(a, null))
          rb.defer('remove state file', () => removeState(key))
        } else {
          const link = await findHostDevice(rtHost, sel, { stateDir: cfg.stateDir })
          const taken = await linkByName(rtCont, a.ifName)
          if (taken !== undefined) {
            throw new CniError(CniCode.LinkConflict, `cannot move host device ${link.name} into ${a.netns} as ${a.ifName}: the container already has an interface ${a.ifName}`)
          }
          const saved = await snapshotDevice(rtHost, link)
          writeState(key, state(a, saved))
          rb.defer('remove state file', () => removeState(key))
          rb.defer(`return ${link.name} to the host`, () => returnDevice({ rtHost, hostNs, rtCont, ifName: a.ifName, device: saved }, log))
          if (link.up) await setLinkDown(rtHost, link.index)
          await moveLinkToNetns(rtHost, link.index, contNs, a.ifName)
          const moved = await getLink(rtCont, a.ifName)
          // The reference keeps the host name in the alias; so does berth, so the reference's DEL still works.
          await setLinkAlias(rtCont, moved.index, saved.name)
          await setLinkUp(rtCont, moved.index)
          contLink = moved
          iface = { name: a.ifName, ...(moved.mac !== undefined ? { mac: moved.mac } : {}), sandbox: a.netns }
        }
        const result: CniResult = { cniVersion: a.conf.cniVersion, ...(iface ? { interfaces: [iface] } : {}) }
        if (cfg.ipam) {
          const target = ipamTarget(a)
          rb.defer(`release IPAM (${target.type})`, () => delegateDel(target))
          const lease = await delegateAdd(target)
          const ips = ipsFor(lease, 0)
          const routes = lease.routes ?? []
          if (contLink !== undefined) {
            if (ips.length === 0) throw new CniError(CniCode.InvalidConfig, `IPAM plugin ${target.type} returned missing IP config`)
            await configureIface(rtCont, contLink, { cniVersion: a.conf.cniVersion, ips, routes }, { index: 0, netns: contNs, log })
          }
          if (ips.length > 0) result.ips = ips
          if (routes.length > 0) result.routes = routes
        }
        // The reference reports the configuration's DNS, not the IPAM plugin's.
        if (a.conf.dns !== undefined) result.dns = a.conf.dns
        rb.commit()
        return result
      } finally {
        await rb.settle(log)
      }
    })
  } finally {
    for (const h of handles.reverse()) h.close()
  }
}

function state(a: CmdArgs, device: SavedDevice | null): AttachmentState {
  return { version: STATE_VERSION, network: a.conf.name, containerId: a.containerId, ifName: a.ifName, netns: a.netns, device, createdAt: new Date().toISOString() }
}
