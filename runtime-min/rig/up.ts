// `berth rig up`: a switch namespace holding the underlay bridge, and N host namespaces, each on the
// bridge through a veth, with an underlay address, a default route via the switch, loopback up, IPv4
// forwarding on and its own BERTH_ROOT. Everything is validated first; then rig.json (state "creating")
// reserves the name and underlay under the rigs lock, and a Rollback removes whatever was made if a later
// step fails, leaving the machine as it was.
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { describe } from '../../pkg/errors/describe.js'
import { formatCidr, parseCidr, type IpNet } from '../../pkg/ip/cidr.js'
import { createLog } from '../../pkg/log/log.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import { CliError } from '../cli-error.js'
import { afterHostUp } from './drivers.js'
import { withInterruptGuard } from './interrupt.js'
import { BuildResources, memberRecord } from './members.js'
import {
  hostName,
  MAX_HOSTS,
  rigDir,
  RIGS_DIR,
  SWITCH,
  validRigName,
} from './layout.js'
import { DRIVERS, listRigs, withRigsLock, writeRig, type RigDriver, type RigInfo } from './store.js'
import { hostAddress, machineRoutes, overlaps, parseUnderlay, pickUnderlay, planUnderlay } from './underlay.js'

const log = createLog('berth rig')

export interface RigUpOptions {
  readonly name?: string | undefined
  readonly hosts: number
  readonly underlay?: string | undefined
  /** an IPv6 underlay besides the IPv4 one (dual stack); none by default */
  readonly underlay6?: string | undefined
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
  const net6 = opts.underlay6 === undefined ? undefined : parseUnderlay(opts.underlay6, opts.hosts, 6)
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
    if (net6 !== undefined) {
      const clash = others.find((r) => r.underlay6 !== undefined && overlaps(parseCidr(r.underlay6), net6))
      if (clash !== undefined) {
        throw new CliError(`--underlay6 ${opts.underlay6} overlaps rig ${clash.name}'s underlay ${clash.underlay6 ?? ''}`, 'choose another prefix')
      }
    }
    return build(name, driver, net, net6, opts.hosts)
  })
}

function underlayOf(r: RigInfo): IpNet {
  return parseUnderlay(r.underlay, 1)
}

/** rig1, rig2, ...: the first whose directory does not exist. */
function defaultName(): string {
  for (let i = 1; ; i++) if (!existsSync(rigDir(`rig${i}`))) return `rig${i}`
}

async function build(name: string, driver: RigDriver, net: IpNet, net6: IpNet | undefined, hostCount: number): Promise<RigInfo> {
  const plan = planUnderlay(net, hostCount)
  const v6 = (k: number) => (net6 === undefined ? undefined : { ip: hostAddress(net6, k), prefixLen: net6.prefixLen })
  const info: RigInfo = {
    version: 1,
    name,
    state: 'creating',
    driver,
    underlay: plan.cidr,
    gateway: plan.gateway,
    ...(net6 === undefined ? {} : { underlay6: formatCidr(net6), gateway6: hostAddress(net6, 0) }),
    createdAt: new Date().toISOString(),
    switch: memberRecord(name, SWITCH, plan.gateway, plan.prefixLen, v6(0)),
    hosts: plan.hosts.map((ip, k) => memberRecord(name, hostName(k + 1), ip, plan.prefixLen, v6(k + 1))),
  }

  return withInterruptGuard(async (guard) => {
    const rb = new Rollback()
    const res = new BuildResources(rb, info)
    try {
      mkdirSync(RIGS_DIR, { recursive: true, mode: 0o755 })
      mkdirSync(rigDir(name), { mode: 0o755 })
      rb.defer(`remove ${rigDir(name)}`, () => rmSync(rigDir(name), { recursive: true, force: true }))
      writeRig(info)
      await res.makeSwitch()
      for (const host of info.hosts) {
        guard.check()
        await res.makeHost(host)
      }
      for (const host of info.hosts) {
        guard.check()
        await afterHostUp({ rig: info, host, reason: 'up' })
      }
      guard.check()
      const ready: RigInfo = { ...info, state: 'ready' }
      writeRig(ready)
      rb.commit()
      return ready
    } catch (e) {
      if (e instanceof CliError) throw e
      throw new CliError(`rig up ${name} failed: ${describe(e)}`, 'fix the cause and run it again (what it made has been removed)')
    } finally {
      res.close()
      await rb.settle(log)
    }
  })
}
