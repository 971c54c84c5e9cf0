// Creating and removing berth networks in a CNI config dir, and the embedded default network `berth`.
// Creation runs under one lock per host (run/berth/net.lock) so two creates cannot pick the same subnet
// or bridge name; the conflist is written atomically as <confDir>/<name>.conflist.
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { PluginConf } from '../../pkg/cni/schema.js'
import { validateNetworkName } from '../../pkg/cni/validate.js'
import { describe } from '../../pkg/errors/describe.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'
import { parseCidr, type IpNet, netContains, parseIp, ipEquals, networkOf, broadcastOf } from '../../pkg/ip/cidr.js'
import { withLock } from '../../pkg/lock/lock.js'
import { CliError } from '../cli-error.js'
import { mkdirAll } from '../mkdir-all.js'
import { loadNetworkList, scanConfDir, type NetworkList } from '../libcni/index.js'
import { berthRunDir, cniConfDir, hostLocalDataDir } from '../paths.js'
import { bridgeConflist, macvlanConflist, summarize, vxlanConflist } from './conflist.js'
import { canonicalSubnet, DEFAULT_NETWORK_SUBNET, firstHost, hostRoutes, overlaps, pickSubnet, userSubnetPool } from './subnets.js'

export const DEFAULT_NETWORK = 'berth'
export const DEFAULT_BRIDGE = 'berth0'
export const DEFAULT_VXLAN_CIDR = '10.244.0.0/16'
/** --net values that are not networks (`berth run`) */
const RESERVED = new Set(['host', 'none', 'default', 'bridge'])

export interface CreateNetworkOptions {
  confDir?: string | undefined
  name: string
  driver: 'bridge' | 'vxlan' | 'macvlan'
  subnets: string[]
  /** --driver macvlan: the master (default: the plugin takes the interface of the default route) */
  parent?: string | undefined
  gateway?: string | undefined
  internal: boolean
  mtu?: number | undefined
  /** --driver vxlan: the VNI (default: the lowest free one in the conf dir) */
  vni?: number | undefined
}

export interface CreatedNetwork {
  name: string
  file: string
  conflist: Record<string, unknown>
}

const netLockPath = () => {
  mkdirAll(berthRunDir())
  return join(berthRunDir(), 'net.lock')
}

/** Runs fn under the host's network lock (what create holds while it picks a subnet and a bridge). */
export function withNetLock<T>(fn: () => T | Promise<T>): Promise<T> {
  return withLock(netLockPath(), fn)
}

export function createNetwork(o: CreateNetworkOptions): Promise<CreatedNetwork> {
  checkName(o.name)
  const mtu = checkMtu(o.mtu)
  const given = o.subnets.map(parseSubnet)
  for (let i = 0; i < given.length; i++) {
    for (let j = i + 1; j < given.length; j++) {
      if (overlaps(given[i] as IpNet, given[j] as IpNet)) throw new CliError(`--subnet ${o.subnets[i]} overlaps --subnet ${o.subnets[j]}`, 'give disjoint subnets')
    }
  }
  if (o.vni !== undefined && o.driver !== 'vxlan') throw new CliError('--vni is only for --driver vxlan', 'leave it out')
  if (o.vni !== undefined && (!Number.isInteger(o.vni) || o.vni < 1 || o.vni > 16777215)) {
    throw new CliError(`invalid --vni ${Number.isNaN(o.vni) ? '(not a number)' : o.vni}`, 'give an integer from 1 to 16777215')
  }
  if (o.parent !== undefined && o.driver !== 'macvlan') throw new CliError('--parent is only for --driver macvlan', 'leave it out')
  if (o.driver === 'macvlan') {
    if (given.length === 0) {
      throw new CliError("--driver macvlan needs --subnet: the subnet of the parent's segment (berth has no DHCP IPAM)", 'e.g. --subnet 192.168.1.0/24 --gateway 192.168.1.254')
    }
  }
  if (o.driver === 'vxlan') {
    if (o.internal) throw new CliError('--internal is not supported with --driver vxlan', 'leave it out')
    if (o.gateway !== undefined) throw new CliError('--gateway is not supported with --driver vxlan (each host gets its own gateway)', 'leave it out')
    if (given.length > 1 || given.some((g) => g.family !== 4 || g.prefixLen > 22)) {
      throw new CliError('--driver vxlan takes one IPv4 cluster subnet of /22 or larger (each host gets a /24 of it)', 'e.g. --subnet 10.244.0.0/16')
    }
  }
  const confDir = o.confDir ?? cniConfDir()
  return withNetLock(async () => {
    const entries = scanConfDir(confDir)
    if (entries.some((e) => 'list' in e && e.list.name === o.name)) {
      throw new CliError(`network ${JSON.stringify(o.name)} already exists in ${confDir}`, `choose another name or remove it with 'berth net rm ${o.name}'`)
    }
    const others: { name: string; net: IpNet }[] = []
    for (const e of entries) {
      if (!('list' in e)) continue
      for (const s of summarize(e.list.plugins).subnets) {
        try {
          others.push({ name: e.list.name, net: parseCidr(s) })
        } catch {
          // a subnet berth cannot read is not one it could collide with knowingly
        }
      }
    }
    let conflist: Record<string, unknown>
    if (o.driver === 'vxlan') {
      const cidr = given[0] ?? parseCidr(DEFAULT_VXLAN_CIDR)
      checkFree(cidr, others, [])
      // The VNI names the host's VXLAN device (berth.<vni>) and bridge (berthbr<vni>): two networks on one
      // VNI would share them, so each vxlan network gets the lowest VNI no other one in this dir uses.
      const used = new Map(entries.flatMap((e) => ('list' in e ? overlayVnis(e.list.plugins).map((v) => [v, e.list.name] as const) : [])))
      let vni = 1
      if (o.vni !== undefined) {
        vni = o.vni
        const owner = used.get(vni)
        if (owner !== undefined) throw new CliError(`--vni ${vni} is used by network ${JSON.stringify(owner)}`, 'choose another VNI or leave --vni out')
      } else while (used.has(vni)) vni++
      conflist = vxlanConflist({ name: o.name, clusterCidr: canonicalSubnet(cidr), vni, mtu })
    } else if (o.driver === 'macvlan') {
      if (o.parent !== undefined) await checkParent(o.parent)
      // The subnet is the parent's own segment, which the host routes already: only other networks count.
      for (const s of given) checkFree(s, others, [])
      const gateways = assignGateway(given, o.gateway)
      conflist = macvlanConflist({
        name: o.name,
        parent: o.parent,
        subnets: given.map((s, i) => ({ subnet: canonicalSubnet(s), gateway: gateways[i] })),
        internal: o.internal,
        mtu,
        dataDir: hostLocalDataDir(),
      })
    } else {
      const host = await hostNets()
      const taken = [...others.map((x) => x.net), ...host.map((h) => h.net)]
      let subnets = given
      if (subnets.length === 0) {
        const pool = o.name === DEFAULT_NETWORK ? [parseCidr(DEFAULT_NETWORK_SUBNET), ...userSubnetPool()] : userSubnetPool()
        const picked = pickSubnet(pool, taken)
        if (picked === undefined) throw new CliError('no free subnet left in 10.89.0.0-10.99.255.0/24', 'pass one with --subnet')
        subnets = [picked]
      } else for (const s of subnets) checkFree(s, others, host)
      const gateways = assignGateway(subnets, o.gateway)
      conflist = bridgeConflist({
        name: o.name,
        bridge: o.name === DEFAULT_NETWORK ? DEFAULT_BRIDGE : await freeBridgeName(entries.flatMap((e) => ('list' in e ? [summarize(e.list.plugins).bridge ?? ''] : []))),
        subnets: subnets.map((s, i) => ({ subnet: canonicalSubnet(s), gateway: gateways[i] })),
        internal: o.internal,
        mtu,
        dataDir: hostLocalDataDir(),
      })
    }
    const file = safeJoin(confDir, `${o.name}.conflist`, { what: 'network name' })
    if (existsSync(file)) throw new CliError(`${file} exists but holds another network`, 'rename or remove that file')
    try {
      mkdirAll(confDir)
      writeFileAtomicSync(file, `${JSON.stringify(conflist, null, 2)}\n`, { mode: 0o644 })
    } catch (e) {
      throw new CliError(`cannot write ${file}: ${errorCode(e) ?? describe(e)}`, 'check the CNI config dir (--cni-conf-dir) is a writable directory')
    }
    return { name: o.name, file, conflist }
  })
}

/** VNIs of the overlay-vxlan plugins of a conflist (the plugin's default is 1). */
function overlayVnis(plugins: readonly PluginConf[]): number[] {
  return plugins.filter((p) => p.type === 'overlay-vxlan').map((p) => (typeof p['vni'] === 'number' ? p['vni'] : 1))
}

/**
 * The embedded default network `berth`, its conflist written on first use: bridge berth0, subnet
 * 10.87.0.0/16 unless that collides with the host's routes or another network (then the first free /24
 * of the user pool), NAT and port publishing. For `berth run` without --net.
 */
export async function ensureDefaultNetwork(confDir: string = cniConfDir()): Promise<NetworkList> {
  try {
    return loadNetworkList(confDir, DEFAULT_NETWORK)
  } catch {
    // not there yet (or unreadable): create it, unless a concurrent run just did
  }
  try {
    await createNetwork({ confDir, name: DEFAULT_NETWORK, driver: 'bridge', subnets: [], internal: false })
  } catch (e) {
    if (!(e instanceof CliError && /already exists/.test(e.message))) throw e
  }
  return loadNetworkList(confDir, DEFAULT_NETWORK)
}

function checkName(name: string): void {
  try {
    validateNetworkName(name)
  } catch (e) {
    throw new CliError(`invalid network name ${JSON.stringify(name)}: ${describe(e).replace(/^invalid network configuration: /, '')}`, "use letters, digits, '_', '.' and '-', starting with a letter or digit")
  }
  if (RESERVED.has(name)) throw new CliError(`"${name}" is reserved (it means something else to 'berth run --net')`, 'choose another name')
}

function checkMtu(mtu: number | undefined): number | undefined {
  if (mtu === undefined) return undefined
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new CliError(`invalid --mtu ${Number.isNaN(mtu) ? '(not a number)' : mtu}`, 'give an integer from 68 to 65535 (1280 or more for IPv6)')
  return mtu
}

function parseSubnet(s: string): IpNet {
  let n: IpNet
  try {
    n = parseCidr(s)
  } catch {
    throw new CliError(`invalid --subnet ${JSON.stringify(s)}`, 'give a CIDR such as 10.90.1.0/24 or fd00:90::/64')
  }
  if (!s.includes('/')) throw new CliError(`invalid --subnet ${JSON.stringify(s)}: no prefix length`, `write it as ${s}/24`)
  const max = n.family === 4 ? 30 : 126
  if (n.prefixLen > max) throw new CliError(`--subnet ${s} is too small for containers`, `use a prefix of /${max} or shorter`)
  return networkOf(n)
}

function checkFree(s: IpNet, others: readonly { name: string; net: IpNet }[], host: readonly HostNet[]): void {
  const clash = others.find((o) => overlaps(o.net, s))
  if (clash !== undefined) throw new CliError(`subnet ${canonicalSubnet(s)} overlaps network ${JSON.stringify(clash.name)}`, 'choose another --subnet')
  const used = host.find((h) => overlaps(h.net, s))
  if (used !== undefined) throw new CliError(`subnet ${canonicalSubnet(s)} overlaps the host's ${used.what}`, 'choose another --subnet')
}

interface HostNet {
  net: IpNet
  /** for messages: "route to 10.1.0.0/16", "address 10.1.2.3" */
  what: string
}

/**
 * What the host's namespace already uses: its routes (main table), and its addresses (an address
 * without a prefix route, a /32 say, shows only here). Loopback and link-local addresses are left out.
 */
async function hostNets(): Promise<HostNet[]> {
  const out: HostNet[] = hostRoutes().map((r) => ({ net: r, what: `route to ${canonicalSubnet(r)}` }))
  const { openRtnl } = await import('../../pkg/link/rtnl.js')
  const { listAddresses } = await import('../../pkg/link/addr.js')
  const rt = openRtnl()
  try {
    for (const a of await listAddresses(rt)) {
      if (a.ip.startsWith('127.') || a.ip === '::1' || a.ip.toLowerCase().startsWith('fe80:')) continue
      out.push({ net: parseCidr(a.family === 4 ? `${a.ip}/32` : `${a.ip}/128`), what: `address ${a.ip}` })
    }
  } finally {
    rt.close()
  }
  return out
}

/** Gateways per subnet: --gateway goes to the subnet holding it, every other subnet gets its first host. */
function assignGateway(subnets: readonly IpNet[], gateway: string | undefined): string[] {
  const out = subnets.map(firstHost)
  if (gateway === undefined) return out
  let ip
  try {
    ip = parseIp(gateway)
  } catch {
    throw new CliError(`invalid --gateway ${JSON.stringify(gateway)}`, 'give an IP address inside the subnet')
  }
  const i = subnets.findIndex((s) => netContains(s, ip))
  const s = subnets[i]
  if (s === undefined) throw new CliError(`--gateway ${gateway} is not inside any --subnet`, 'give an address of the subnet, or add --subnet')
  const bcast = broadcastOf(s)
  if (ipEquals(networkOf(s), ip) || (bcast !== undefined && ipEquals(bcast, ip))) {
    throw new CliError(`--gateway ${gateway} is the network or broadcast address of ${canonicalSubnet(s)}`, 'give a host address')
  }
  out[i] = gateway
  return out
}

/** berth1, berth2, ...: the first name no conflist uses and no link in this namespace has. */
async function freeBridgeName(used: readonly string[]): Promise<string> {
  const links = new Set(await linkNames())
  for (let n = 1; ; n++) {
    const name = `berth${n}`
    if (!used.includes(name) && !links.has(name)) return name
  }
}

async function linkNames(): Promise<string[]> {
  const { openRtnl } = await import('../../pkg/link/rtnl.js')
  const { listLinks } = await import('../../pkg/link/link.js')
  const rt = openRtnl()
  try {
    return (await listLinks(rt)).map((l) => l.name)
  } finally {
    rt.close()
  }
}

/** A --parent that names no link of this namespace would fail every ADD: refused now. */
async function checkParent(name: string): Promise<void> {
  if (!/^[^\s/:\0]{1,15}$/.test(name)) throw new CliError(`invalid --parent ${JSON.stringify(name)}`, 'give an interface name of 1 to 15 characters')
  if (!(await linkNames()).includes(name)) throw new CliError(`--parent ${name}: no such interface here`, "give one of the host's interfaces ('ip link'), or leave --parent out for the default route's")
}

/** Deletes a bridge berth created (a link named berthN) in this namespace; a missing one is fine. */
export async function deleteBridge(name: string): Promise<void> {
  if (!/^berth\d+$/.test(name)) return
  const { openRtnl } = await import('../../pkg/link/rtnl.js')
  const { delLinkIfExists } = await import('../../pkg/link/link.js')
  const rt = openRtnl()
  try {
    await delLinkIfExists(rt, name)
  } finally {
    rt.close()
  }
}

/** host-local's reservations of a network created by berth (its dataDir is berth's): removed with the network. */
export function removeReservations(list: NetworkList): void {
  const ipam = list.plugins[0]?.ipam as Record<string, unknown> | undefined
  if (ipam?.['dataDir'] !== hostLocalDataDir()) return
  rmSync(safeJoin(hostLocalDataDir(), list.name, { what: 'network name' }), { recursive: true, force: true })
}
