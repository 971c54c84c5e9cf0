// The `ipam` section of a host-local network (every key of the reference) → HostLocalConfig.
// The shape is checked by zod; the address rules (defaults, containment, overlaps) are checked here, each
// failure a CniError 7 naming the key, before anything touches the disk.
// Defaults, as the reference's Range.Canonicalize: gateway = network + 1; rangeStart = network + 1 (the
// gateway is skipped when handing out addresses, not excluded from the range); rangeEnd = the last address
// of the subnet, less one for IPv4 (the broadcast address). Subnets with fewer than two host bits (IPv4
// /31, /32, IPv6 /127, /128) are refused, as by the reference. Stricter than the reference: a gateway
// outside its subnet and rangeStart after rangeEnd are errors rather than surprises at ADD time.
import { isAbsolute } from 'node:path'
import * as z from 'zod/mini'
import { parseWith, type NetConf } from '../cni/schema.js'
import { formatPath } from '../cni/decode.js'
import { decodedWhole, keyAsSent, pathAsSent } from '../cni/go-keys.js'
import type { CniRoute } from '../cni/result.js'
import { canonicalIp } from '../cni/ip-text.js'
import { checkCniArgs } from '../cni/args.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { addToIp, formatCidr, formatIp, ipEquals, lastAddressOf, netContains, networkOf, parseCidr, parseIp, compareIp, type IpAddr } from '../ip/cidr.js'
import { formatRange, rangeSetContains, rangesOverlap, type Range, type RangeSet } from './range-set.js'

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks'

const opt = z.optional
const RangeSchema = z.looseObject({ subnet: z.string(), rangeStart: opt(z.string()), rangeEnd: opt(z.string()), gateway: opt(z.string()) })
// cni's types.Route has its own UnmarshalJSON: a route sent twice is replaced, not merged.
const RouteSchema = decodedWhole(z.looseObject({
  dst: z.string(),
  gw: opt(z.string()),
  mtu: opt(z.int()),
  advmss: opt(z.int()),
  priority: opt(z.int()),
  table: opt(z.int()),
  scope: opt(z.int()),
}))
// Where the reservations live: all DEL and GC need, so they can work even when the ranges do not parse.
const LocationSchema = z.looseObject({ type: z.string(), dataDir: opt(z.string()) })
const IpamSchema = z.looseObject({
  type: z.string(),
  subnet: opt(z.string()),
  rangeStart: opt(z.string()),
  rangeEnd: opt(z.string()),
  gateway: opt(z.string()),
  ranges: opt(z.array(z.array(RangeSchema))),
  routes: opt(z.array(RouteSchema)),
  dataDir: opt(z.string()),
  resolvConf: opt(z.string()),
})
// `args.cni.ips` in the network configuration (CONVENTIONS.md), read by the reference too.
const ArgsSchema = z.looseObject({ cni: opt(z.looseObject({ ips: opt(z.array(z.string())) })) })

type RawRange = z.output<typeof RangeSchema>

export interface StoreLocation {
  /** the network name: the reservations' directory under dataDir */
  name: string
  dataDir: string
}

export interface HostLocalConfig extends StoreLocation {
  /** one address per range set */
  rangeSets: RangeSet[]
  routes: CniRoute[]
  resolvConf?: string
  /** requested addresses (CNI_ARGS IP, args.cni.ips, runtimeConfig.ips), each with where it came from */
  requested: Requested[]
}

export interface Requested {
  ip: IpAddr
  /** the key it came from, for messages */
  from: string
}

const bad = (key: string, msg: string) => new CniError(CniCode.InvalidConfig, `invalid ${key}: ${msg}`)
/** A key path for messages, each key as the runtime spelled it ("runtimeConfig.IPRanges"). */
const sent = (root: unknown, ...path: PropertyKey[]) => formatPath(pathAsSent(root, path))

/** Only the name and data directory (DEL, GC): a config whose ranges no longer parse can still be cleaned up. */
export function parseStoreLocation(conf: NetConf): StoreLocation {
  if (conf.ipam === undefined) throw bad('ipam', "missing 'ipam' key")
  const ipam = parseWith(LocationSchema, conf.ipam, sent(conf, 'ipam'))
  return { name: conf.name, dataDir: checkDataDir(ipam.dataDir, `${sent(conf, 'ipam')}.${keyAsSent(ipam, 'dataDir')}`) }
}

/** The whole config (ADD, CHECK, STATUS). `cniArgs` is the parsed CNI_ARGS (IP= requests an address). */
export function parseHostLocalConfig(conf: NetConf, cniArgs: ReadonlyMap<string, string> = new Map()): HostLocalConfig {
  if (conf.ipam === undefined) throw bad('ipam', "missing 'ipam' key")
  const at = sent(conf, 'ipam')
  const ipam = parseWith(IpamSchema, conf.ipam, at)
  // names: the object whose keys a range's messages name (the legacy range's sit in ipam itself)
  const raw: { key: string; set: RawRange[]; names?: object }[] = []
  // Order as the reference: runtimeConfig.ipRanges, then the legacy single range, then `ranges`.
  const runtimeRanges = sent(conf, 'runtimeConfig', 'ipRanges')
  conf.runtimeConfig?.ipRanges?.forEach((set, i) => raw.push({ key: `${runtimeRanges}[${i}]`, set: set as RawRange[] }))
  if (ipam.subnet !== undefined) {
    const legacy: RawRange = { subnet: ipam.subnet }
    if (ipam.rangeStart !== undefined) legacy.rangeStart = ipam.rangeStart
    if (ipam.rangeEnd !== undefined) legacy.rangeEnd = ipam.rangeEnd
    if (ipam.gateway !== undefined) legacy.gateway = ipam.gateway
    raw.push({ key: at, set: [legacy], names: ipam })
  } else if (ipam.rangeStart !== undefined || ipam.rangeEnd !== undefined || ipam.gateway !== undefined) {
    throw bad(`${at}.${keyAsSent(ipam, 'subnet')}`, 'missing (rangeStart, rangeEnd and gateway need a subnet)')
  }
  const ranges = `${at}.${keyAsSent(ipam, 'ranges')}`
  ipam.ranges?.forEach((set, i) => raw.push({ key: `${ranges}[${i}]`, set }))
  if (raw.length === 0) throw bad(at, 'no IP ranges specified (set ipam.ranges or ipam.subnet)')

  const rangeSets = raw.map(({ key, set, names }) => parseRangeSet(key, set, names))
  // A second set overlapping the first would hand one address out twice.
  for (let i = 0; i < rangeSets.length; i++) {
    for (let j = i + 1; j < rangeSets.length; j++) {
      for (const a of rangeSets[i] ?? []) {
        for (const b of rangeSets[j] ?? []) {
          if (rangesOverlap(a, b)) throw bad(raw[j]?.key ?? 'ipam', `range ${formatRange(b)} overlaps range ${formatRange(a)} of ${raw[i]?.key ?? 'ipam'}`)
        }
      }
    }
  }

  const cfg: HostLocalConfig = {
    name: conf.name,
    dataDir: checkDataDir(ipam.dataDir, `${at}.${keyAsSent(ipam, 'dataDir')}`),
    rangeSets,
    routes: (ipam.routes ?? []).map((r, i) => parseRoute(`${at}.${keyAsSent(ipam, 'routes')}[${i}]`, r)),
    requested: parseRequested(conf, cniArgs, rangeSets),
  }
  if (ipam.resolvConf !== undefined && ipam.resolvConf !== '') cfg.resolvConf = ipam.resolvConf
  return cfg
}

function parseRangeSet(key: string, set: RawRange[], names?: object): Range[] {
  if (set.length === 0) throw bad(key, 'empty range set')
  // The legacy shorthand's keys sit directly in ipam.
  const out = set.map((r, i) => (names === undefined ? parseRange(`${key}[${i}]`, r, r) : parseRange(key, r, names)))
  const fam = out[0]?.family
  out.forEach((r, i) => {
    if (r.family !== fam) throw bad(`${key}[${i}].${keyAsSent(set[i], 'subnet')}`, 'mixed address families in one range set')
  })
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i] as Range
      const b = out[j] as Range
      if (rangesOverlap(a, b)) throw bad(`${key}[${j}]`, `range ${formatRange(b)} overlaps range ${formatRange(a)}`)
    }
  }
  return out
}

function parseRange(key: string, raw: RawRange, names: object): Range {
  const at = (k: string) => `${key}.${keyAsSent(names, k)}`
  const subnet = cidrAt(at('subnet'), raw.subnet)
  const hostBits = (subnet.family === 4 ? 32 : 128) - subnet.prefixLen
  if (hostBits < 2) throw bad(at('subnet'), `network ${raw.subnet} too small to allocate from`)
  const net = networkOf(subnet)
  if (!ipEquals(net, subnet)) {
    throw bad(at('subnet'), `${raw.subnet} has host bits set; for a prefix of length ${subnet.prefixLen} the network address is ${formatIp(net.bytes)}`)
  }
  const inSubnet = (k: string, text: string | undefined): IpAddr | undefined => {
    if (text === undefined || text === '') return undefined
    const ip = ipAt(at(k), text)
    if (!netContains(net, ip)) throw bad(at(k), `${text} is not in subnet ${formatCidr(net)}`)
    return ip
  }
  const first = addToIp(net, 1n) as IpAddr
  const last = lastAddressOf(net)
  const gateway = inSubnet('gateway', raw.gateway) ?? first
  const rangeStart = inSubnet('rangeStart', raw.rangeStart) ?? first
  const rangeEnd = inSubnet('rangeEnd', raw.rangeEnd) ?? (net.family === 4 ? (addToIp(last, -1n) as IpAddr) : last)
  if (compareIp(rangeStart, rangeEnd) > 0) {
    throw bad(at('rangeStart'), `${formatIp(rangeStart.bytes)} is after rangeEnd ${formatIp(rangeEnd.bytes)}`)
  }
  return { family: net.family, subnet: net, rangeStart, rangeEnd, gateway }
}

function parseRoute(key: string, r: z.output<typeof RouteSchema>): CniRoute {
  const dst = cidrAt(`${key}.${keyAsSent(r, 'dst')}`, r.dst)
  const out: CniRoute = { dst: formatCidr(networkOf(dst)) }
  if (r.gw !== undefined && r.gw !== '') out.gw = formatIp(ipAt(`${key}.${keyAsSent(r, 'gw')}`, r.gw).bytes)
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const v = r[k]
    if (v !== undefined) out[k] = v
  }
  return out
}

/**
 * Requested addresses, as the reference gathers them: CNI_ARGS IP=, then args.cni.ips, then
 * runtimeConfig.ips (the `ips` capability). Each must fall in some range set, or nothing could satisfy it.
 */
function parseRequested(conf: NetConf, cniArgs: ReadonlyMap<string, string>, sets: RangeSet[]): Requested[] {
  checkCniArgs(cniArgs, ['IP'])
  const out: Requested[] = []
  const envIp = cniArgs.get('IP')
  if (envIp !== undefined && envIp !== '') {
    for (const text of envIp.split(',')) out.push({ ip: requestedIp('CNI_ARGS IP', text.trim(), CniCode.InvalidEnv), from: 'CNI_ARGS IP' })
  }
  const args = conf.args === undefined ? undefined : parseWith(ArgsSchema, conf.args, sent(conf, 'args'))
  const argIps = `${sent(conf, 'args')}.${sent(args, 'cni', 'ips')}`
  args?.cni?.ips?.forEach((text, i) => out.push({ ip: requestedIp(`${argIps}[${i}]`, text), from: `${argIps}[${i}]` }))
  const runtimeIps = sent(conf, 'runtimeConfig', 'ips')
  conf.runtimeConfig?.ips?.forEach((text, i) => out.push({ ip: requestedIp(`${runtimeIps}[${i}]`, text), from: `${runtimeIps}[${i}]` }))
  for (const r of out) {
    if (!sets.some((s) => rangeSetContains(s, r.ip))) {
      throw bad(r.from, `requested IP ${formatIp(r.ip.bytes)} is not in any range: ${sets.map((s) => s.map(formatRange).join(',')).join('; ')}`)
    }
  }
  return out
}

/** "10.1.2.3" or "10.1.2.3/24" (the prefix is ignored, as by the reference); IPv4-mapped IPv6 reads as IPv4. */
function requestedIp(key: string, text: string, code: number = CniCode.InvalidConfig): IpAddr {
  const addr = text.includes('/') ? text.slice(0, text.indexOf('/')) : text
  try {
    return ipAt(key, addr)
  } catch {
    throw new CniError(code, `invalid ${key}: ${JSON.stringify(text)} is not an IP address`)
  }
}

function ipAt(key: string, text: string): IpAddr {
  const c = canonicalIp(text)
  if (c === undefined) throw bad(key, `${JSON.stringify(text)} is not an IP address`)
  return parseIp(c.text)
}

function cidrAt(key: string, text: string) {
  const slash = text.indexOf('/')
  const c = slash < 0 ? undefined : canonicalIp(text.slice(0, slash))
  try {
    if (c === undefined) throw new Error()
    return parseCidr(`${c.text}/${text.slice(slash + 1)}`)
  } catch {
    throw bad(key, `${JSON.stringify(text)} is not a CIDR (address/prefix length)`)
  }
}

/** dataDir must be absolute and plain: no ".", ".." or empty components that could lead elsewhere. */
function checkDataDir(dir: string | undefined, key: string): string {
  if (dir === undefined || dir === '') return DEFAULT_DATA_DIR
  const fail = (why: string) => bad(key, `${JSON.stringify(dir)} ${why}`)
  if (dir.includes('\0')) throw fail('contains NUL')
  if (!isAbsolute(dir)) throw fail('must be an absolute path')
  if (dir.split('/').some((c) => c === '.' || c === '..')) throw fail('must not contain "." or ".." components')
  const trimmed = dir.replace(/\/+$/, '')
  return trimmed === '' ? '/' : trimmed
}
