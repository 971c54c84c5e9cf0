// `berth rig up`: a switch namespace holding the underlay bridge, and N host namespaces, each on the
// bridge through a veth, with an underlay address, a default route via the switch, loopback up, IPv4
// forwarding on and its own BERTH_ROOT. Everything is validated first; then rig.json (state "creating")
// reserves the name and underlay under the rigs lock, and a Rollback removes whatever was made if a later
// step fails, leaving the machine as it was.
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe } from '../../pkg/errors/describe.js'
import type { IpNet } from '../../pkg/ip/cidr.js'
import { addAddress } from '../../pkg/link/addr.js'
import { createBridge } from '../../pkg/link/bridge.js'
import { setLinkMaster, setLinkUp } from '../../pkg/link/link.js'
import { addRoute } from '../../pkg/link/route.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { createVethPair } from '../../pkg/link/veth.js'
import { createLog } from '../../pkg/log/log.js'
import { createNetns, deleteNetns, NetnsHandle } from '../../pkg/ns/netns.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import { writeSysctl } from '../../pkg/sysctl/sysctl.js'
import { CliError } from '../cli-error.js'
import { afterHostUp } from './drivers.js'
import {
  HOST_IFACE,
  hostName,
  MAX_HOSTS,
  memberNetnsPath,
  memberRoot,
  rigDir,
  RIGS_DIR,
  ROOT_SUBDIRS,
  SWITCH,
  SWITCH_BRIDGE,
  validRigName,
} from './layout.js'
import { DRIVERS, listRigs, withRigsLock, writeRig, type RigDriver, type RigInfo, type RigMember } from './store.js'
import { machineRoutes, overlaps, parseUnderlay, pickUnderlay, planUnderlay } from './underlay.js'

const log = createLog('berth rig')

export interface RigUpOptions {
  readonly name?: string | undefined
  readonly hosts: number
  readonly underlay?: string | undefined
  readonly driver?: string | undefined
}

/** Makes the rig and returns its description (as written to rig.json). */
export async function rigUp(opts: RigUpOptions): Promise<RigInfo> {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new CliError(`--hosts ${opts.hosts} is out of range`, `give a whole number from 1 to ${MAX_HOSTS}`)
  }
  const driver = (opts.driver ?? 'bridge') as RigDriver
  if (!DRIVERS.includes(driver)) throw new CliError(`unknown --driver ${JSON.stringify(opts.driver)}`, `use ${DRIVERS.join(' or ')}`)
  if (opts.name !== undefined) validRigName(opts.name)
  const wanted = opts.underlay === undefined ? undefined : parseUnderlay(opts.underlay, opts.hosts)
  return withRigsLock(async () => {
    const others = listRigs()
    const name = opts.name ?? defaultName()
    if (opts.name !== undefined && existsSync(rigDir(name))) {
      throw new CliError(`rig ${name} already exists`, `choose another --name, or remove it with 'berth rig down ${name}'`)
    }
    const net = wanted ?? pickUnderlay([...(await machineRoutes()), ...others.map((r) => underlayOf(r))])
    if (wanted !== undefined) {
      const clash = others.find((r) => overlaps(underlayOf(r), wanted))
      if (clash !== undefined) {
        throw new CliError(`--underlay ${opts.underlay} overlaps rig ${clash.name}'s underlay ${clash.underlay}`, 'choose another prefix, or leave --underlay out to get a free one')
      }
    }
    return build(name, driver, net, opts.hosts)
  })
}

function underlayOf(r: RigInfo): IpNet {
  return parseUnderlay(r.underlay, 1)
}

/** rig1, rig2, ...: the first whose directory does not exist. */
function defaultName(): string {
  for (let i = 1; ; i++) if (!existsSync(rigDir(`rig${i}`))) return `rig${i}`
}

async function build(name: string, driver: RigDriver, net: IpNet, hostCount: number): Promise<RigInfo> {
  const plan = planUnderlay(net, hostCount)
  const member = (m: string, ip: string, iface: string): RigMember => ({
    name: m,
    netns: memberNetnsPath(name, m),
    address: `${ip}/${plan.prefixLen}`,
    ip,
    root: memberRoot(name, m),
    interface: iface,
  })
  const info: RigInfo = {
    version: 1,
    name,
    state: 'creating',
    driver,
    underlay: plan.cidr,
    gateway: plan.gateway,
    createdAt: new Date().toISOString(),
    switch: member(SWITCH, plan.gateway, SWITCH_BRIDGE),
    hosts: plan.hosts.map((ip, k) => member(hostName(k + 1), ip, HOST_IFACE)),
  }

  const rb = new Rollback()
  const handles: NetnsHandle[] = []
  const sockets: Rtnl[] = []
  try {
    mkdirSync(RIGS_DIR, { recursive: true, mode: 0o755 })
    mkdirSync(rigDir(name), { mode: 0o755 })
    rb.defer(`remove ${rigDir(name)}`, () => rmSync(rigDir(name), { recursive: true, force: true }))
    writeRig(info)

    const sw = makeNamespace(info.switch, rb, handles)
    const swRt = track(sockets, openRtnl(sw))
    await setLinkUp(swRt, 'lo')
    await createBridge(swRt, { name: SWITCH_BRIDGE })
    await addAddress(swRt, SWITCH_BRIDGE, info.switch.address)
    await setLinkUp(swRt, SWITCH_BRIDGE)
    makeRoot(info.switch.root)

    for (const [k, host] of info.hosts.entries()) {
      const ns = makeNamespace(host, rb, handles)
      // The switch end is named after the host; the host end is eth0, created directly in the host.
      await createVethPair(swRt, { name: host.name, peerName: HOST_IFACE, peerNetns: ns })
      await setLinkMaster(swRt, host.name, SWITCH_BRIDGE)
      await setLinkUp(swRt, host.name)
      const rt = track(sockets, openRtnl(ns))
      await setLinkUp(rt, 'lo')
      await addAddress(rt, HOST_IFACE, host.address)
      await setLinkUp(rt, HOST_IFACE)
      await addRoute(rt, { gw: plan.gateway, dev: HOST_IFACE })
      writeSysctl('net.ipv4.ip_forward', '1', ns)
      makeRoot(host.root)
      log.debug(`${name}: ${hostName(k + 1)} up at ${host.address}`)
    }

    for (const host of info.hosts) await afterHostUp({ rig: info, host })
    const ready: RigInfo = { ...info, state: 'ready' }
    writeRig(ready)
    rb.commit()
    return ready
  } catch (e) {
    throw new CliError(`rig up ${name} failed: ${describe(e)}`, 'fix the cause and run it again (what it made has been removed)')
  } finally {
    for (const s of sockets) s.close()
    for (const h of handles) h.close()
    await rb.settle(log)
  }
}

function track<T>(list: T[], x: T): T {
  list.push(x)
  return x
}

/** Creates the member's persisted namespace (registering its removal) and returns a handle to it. */
function makeNamespace(m: RigMember, rb: Rollback, handles: NetnsHandle[]): NetnsHandle {
  try {
    createNetns(m.netns)
  } catch (e) {
    throw new Error(`${describe(e)} (remove it with 'ip netns del ${m.netns.split('/').pop() ?? ''}' if it is a leftover)`)
  }
  rb.defer(`delete namespace ${m.netns}`, () => deleteNetns(m.netns))
  return track(handles, NetnsHandle.open(m.netns))
}

function makeRoot(root: string): void {
  for (const d of ROOT_SUBDIRS) mkdirSync(join(root, d), { recursive: true, mode: 0o755 })
}
