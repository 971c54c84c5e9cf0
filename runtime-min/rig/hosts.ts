// `berth rig add-host` and `berth rig rm-host`: a rig that grows and shrinks while it runs, as a cluster
// does when machines join and leave (the overlay's tests and benchmark need both). hostK always has the
// underlay address network+1+K; a new host takes the lowest free K.
import { describe } from '../../pkg/errors/describe.js'
import { parseCidr } from '../../pkg/ip/cidr.js'
import { delLinkIfExists } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import { CliError } from '../cli-error.js'
import { afterHostUp, beforeHostDown } from './drivers.js'
import { withInterruptGuard } from './interrupt.js'
import { hostIndex, hostName, MAX_HOSTS, SWITCH, validMember, validRigName } from './layout.js'
import { BuildResources, memberRecord } from './members.js'
import { reap } from './reap.js'
import { requireRig, withRigsLock, writeRig, type RigInfo, type RigMember } from './store.js'
import { hostAddress, maxHostIndex } from './underlay.js'

const log = createLog('berth rig')

const byIndex = (a: RigMember, b: RigMember) => (hostIndex(a.name) ?? 0) - (hostIndex(b.name) ?? 0)

function readyRig(name: string): RigInfo {
  const rig = requireRig(validRigName(name))
  if (rig.state !== 'ready') {
    throw new CliError(`rig ${name} is not ready (its up did not finish)`, `remove it with 'berth rig down ${name}'`)
  }
  return rig
}

/** Adds `count` hosts to a ready rig and returns the new ones. */
export function rigAddHosts(name: string, count: number): Promise<RigMember[]> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new CliError(`--count ${count} is out of range`, `give a whole number from 1 to ${MAX_HOSTS}`)
  }
  return withRigsLock(() => {
    const rig = readyRig(name)
    if (rig.hosts.length + count > MAX_HOSTS) throw new CliError(`rig ${name} would have more than ${MAX_HOSTS} hosts`, 'add fewer')
    const net = parseCidr(rig.underlay)
    const net6 = rig.underlay6 === undefined ? undefined : parseCidr(rig.underlay6)
    const used = new Set(rig.hosts.map((h) => hostIndex(h.name)))
    const fresh: RigMember[] = []
    for (let k = 1; k <= maxHostIndex(net) && fresh.length < count; k++) {
      if (used.has(k)) continue
      const v6 = net6 === undefined ? undefined : { ip: hostAddress(net6, k), prefixLen: net6.prefixLen }
      fresh.push(memberRecord(rig.name, hostName(k), hostAddress(net, k), net.prefixLen, v6))
    }
    if (fresh.length < count) throw new CliError(`rig ${name}'s underlay ${rig.underlay} has no room for ${count} more hosts`, 'remove hosts or make a rig with a larger --underlay')
    const grown: RigInfo = { ...rig, hosts: [...rig.hosts, ...fresh].sort(byIndex) }

    return withInterruptGuard(async (guard) => {
      const rb = new Rollback()
      const res = new BuildResources(rb, grown)
      try {
        // Recorded first, so `inspect`, `rm-host` and `down` see the new hosts even if we die halfway.
        writeRig(grown)
        rb.defer('restore rig.json', () => writeRig(rig))
        for (const host of fresh) {
          guard.check()
          await res.makeHost(host)
        }
        for (const host of fresh) {
          guard.check()
          await afterHostUp({ rig: grown, host, reason: 'add-host' })
        }
        rb.commit()
        return fresh
      } catch (e) {
        if (e instanceof CliError) throw e
        throw new CliError(`rig add-host ${name} failed: ${describe(e)}`, 'fix the cause and run it again (what it made has been removed)')
      } finally {
        res.close()
        await rb.settle(log)
      }
    })
  })
}

/** Removes one host: its processes and containers, its namespace and veth, its root directory. */
export function rigRemoveHost(name: string, host: string): Promise<void> {
  return withRigsLock(async () => {
    const rig = requireRig(validRigName(name))
    if (host === SWITCH) throw new CliError('the switch cannot be removed on its own', `remove the whole rig with 'berth rig down ${name}'`)
    validMember(rig.name, host, rig.hosts.map((h) => h.name))
    const member = rig.hosts.find((h) => h.name === host)
    if (member === undefined) throw new Error(`rig ${name}: ${host} missing`)
    try {
      await beforeHostDown({ rig, host: member, reason: 'rm-host' })
    } catch (e) {
      log.warn(`${name}/${host}: driver clean-up failed: ${describe(e)}`)
    }
    const { failures } = await reap([member.netns], [member.root])
    // The namespace goes away asynchronously once unreferenced; delete the veth now so the name is free.
    try {
      const sw = NetnsHandle.open(rig.switch.netns)
      const rt = openRtnl(sw)
      try {
        await delLinkIfExists(rt, host)
      } finally {
        rt.close()
        sw.close()
      }
    } catch (e) {
      failures.push(`delete the switch port ${host}: ${describe(e)}`)
    }
    writeRig({ ...rig, hosts: rig.hosts.filter((h) => h.name !== host) })
    if (failures.length > 0) throw new CliError(`rig rm-host ${name} ${host} left something behind: ${failures.join('; ')}`, `run 'berth rig down ${name}' to remove the rest`)
  })
}
