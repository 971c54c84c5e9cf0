// The kernel objects that shape one attachment, the reference's layout: traffic to the container is shaped
// at the root of the host veth; traffic from the container enters the host veth's ingress qdisc, whose u32
// filter redirects it to an ifb whose root shapes it. The root is a tbf (the reference's exact parameters,
// so either suite's CHECK accepts the other's) or, with shaped/unshaped subnets, an htb with a shaped and an
// unshaped class and one u32 filter per subnet sending its traffic to the other class.
import { createHash } from 'node:crypto'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import type { IpNet } from '../../pkg/ip/cidr.js'
import type { Link } from '../../pkg/link/link.js'
import type { Rtnl } from '../../pkg/link/rtnl.js'
import {
  addClass,
  addFilter,
  addQdisc,
  bfifoOptions,
  ETH_P_ALL,
  ETH_P_IP,
  ETH_P_IPV6,
  htbClassOptions,
  htbQdiscOptions,
  INGRESS_HANDLE,
  listClasses,
  listFilters,
  listQdiscs,
  parseHtbClassOptions,
  parseTbfOptions,
  parseU32Options,
  tbfOptions,
  tcHandle,
  TC_H_INGRESS,
  TC_H_ROOT,
  tickInUsec,
  u32Options,
  type TokenBucket,
  type U32Key,
} from '../../pkg/link/tc.js'
import type { BandwidthLimits, Limit } from './config.js'

/** The reference's ifb name: "bwp" + hex sha512(network + container ID), 15 characters. */
export const ifbName = (network: string, containerId: string): string => `bwp${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, 15)

/** Salt of the network tag in an ifb's owner alias (pkg/owner). */
export const IFB_OWNER_SALT = 'berth-bandwidth\0'

/** The reference's queue latency bound: a tbf queues at most 25 ms of traffic beyond the burst. */
const LATENCY_US = 25_000
const ROOT_HANDLE = tcHandle(1, 0)
/** The reference's class ids (its 1.5 releases): 1:48 shaped, 1:1 not. */
const SHAPED = tcHandle(1, 48)
const UNSHAPED = tcHandle(1, 1)
const SHAPED_LEAF = tcHandle(2, 0)
/** The unshaped class's rate, bytes/s: 100 Gbit/s, more than any veth carries. */
const UNCAPPED = 100e9 / 8

/** A limit in the kernel's terms, computed as the reference computes it (Go's float64 → uint32 truncations). */
export function tokenBucket(l: Limit, ticks = tickInUsec()): TokenBucket {
  const rate = Math.floor(l.rate / 8)
  const burst = Math.floor(l.burst / 8) >>> 0
  const buffer = Math.trunc(Math.trunc((burst * 1e6) / rate) * ticks) >>> 0
  const limit = (Math.trunc((rate * LATENCY_US) / 1e6) + burst) >>> 0
  return { rate, buffer, limit }
}

/** Which end of a packet is the remote one: traffic to the container comes from it, traffic out goes to it. */
export type Direction = 'to-container' | 'from-container'

/** u32 keys matching a remote subnet: the IPv4/IPv6 source (to the container) or destination (from it). */
export function subnetKeys(net: IpNet, dir: Direction): U32Key[] {
  const base = net.family === 4 ? (dir === 'to-container' ? 12 : 16) : dir === 'to-container' ? 8 : 24
  const keys: U32Key[] = []
  for (let word = 0; word * 32 < net.prefixLen; word++) {
    const bitsHere = Math.min(32, net.prefixLen - word * 32)
    const mask = bitsHere === 32 ? 0xffffffff : (~(0xffffffff >>> bitsHere)) >>> 0
    const value = Buffer.from(net.bytes).readUInt32BE(word * 4)
    keys.push({ mask, value: (value & mask) >>> 0, off: base + word * 4 })
  }
  return keys
}

/** Shapes traffic leaving `link` (its root qdisc). */
export async function shapeRoot(rt: Rtnl, link: Link, l: Limit, subnets: BandwidthLimits['subnets'], dir: Direction): Promise<void> {
  const tb = tokenBucket(l)
  if (subnets.list.length === 0) {
    await addQdisc(rt, { index: link.index, parent: TC_H_ROOT, handle: ROOT_HANDLE, kind: 'tbf', options: tbfOptions(tb), label: link.name })
    return
  }
  // Unlisted traffic goes to the shaped class when the list is of exceptions, to the unshaped one otherwise.
  const listed = subnets.exclude ? UNSHAPED : SHAPED
  const other = subnets.exclude ? SHAPED : UNSHAPED
  await addQdisc(rt, { index: link.index, parent: TC_H_ROOT, handle: ROOT_HANDLE, kind: 'htb', options: htbQdiscOptions(other & 0xffff), label: link.name })
  await addClass(rt, { index: link.index, parent: ROOT_HANDLE, handle: SHAPED, kind: 'htb', options: htbClassOptions({ rate: tb.rate, ceil: tb.rate, buffer: tb.buffer }), label: link.name })
  // The class's default leaf queues txqueuelen packets (with GSO, tens of MB: seconds at a low rate); a
  // bfifo bounds it as the tbf's limit does (25 ms beyond the burst).
  await addQdisc(rt, { index: link.index, parent: SHAPED, handle: SHAPED_LEAF, kind: 'bfifo', options: bfifoOptions(tb.limit), label: link.name })
  await addClass(rt, { index: link.index, parent: ROOT_HANDLE, handle: UNSHAPED, kind: 'htb', options: htbClassOptions({ rate: UNCAPPED, ceil: UNCAPPED, buffer: 0 }), label: link.name })
  for (const net of subnets.list) {
    await addFilter(rt, {
      index: link.index,
      parent: ROOT_HANDLE,
      priority: net.family === 4 ? 16 : 15,
      protocol: net.family === 4 ? ETH_P_IP : ETH_P_IPV6,
      kind: 'u32',
      options: u32Options({ keys: subnetKeys(net, dir), classId: listed }),
      label: link.name,
    })
  }
}

/** Sends everything arriving on `from` (the host veth: what the container sends) through `ifb`. */
export async function redirectIngress(rt: Rtnl, from: Link, ifb: Link): Promise<void> {
  await addQdisc(rt, { index: from.index, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, kind: 'ingress', label: from.name })
  await addFilter(rt, {
    index: from.index,
    parent: INGRESS_HANDLE,
    priority: 1,
    protocol: ETH_P_ALL,
    kind: 'u32',
    options: u32Options({ keys: [], classId: tcHandle(1, 1), redirectTo: ifb.index }),
    label: from.name,
  })
}

const drift = (msg: string) => new CniError(CniCode.KernelFailure, msg)

/** CHECK of a link's root shaping; throws naming what differs. */
export async function checkRoot(rt: Rtnl, link: Link, l: Limit, subnets: BandwidthLimits['subnets'], what: string): Promise<void> {
  const want = tokenBucket(l)
  const root = (await listQdiscs(rt, link.index)).find((q) => q.parent === TC_H_ROOT)
  if (subnets.list.length === 0) {
    const tbf = root?.kind === 'tbf' ? parseTbfOptions(root.options) : undefined
    if (tbf === undefined) throw drift(`${what}: no tbf qdisc at the root of ${link.name} (found ${root?.kind ?? 'none'})`)
    for (const k of ['rate', 'limit', 'buffer'] as const) {
      if (tbf[k] !== want[k]) throw drift(`${what}: the tbf ${k} on ${link.name} is ${tbf[k]}, configured ${want[k]}`)
    }
    return
  }
  if (root?.kind !== 'htb') throw drift(`${what}: no htb qdisc at the root of ${link.name} (found ${root?.kind ?? 'none'})`)
  const shaped = (await listClasses(rt, link.index)).find((c) => c.handle === SHAPED)
  const opts = shaped === undefined ? undefined : parseHtbClassOptions(shaped.options)
  if (opts === undefined) throw drift(`${what}: the shaped htb class 1:48 is missing on ${link.name}`)
  if (opts.rate !== want.rate || opts.ceil !== want.rate) throw drift(`${what}: the shaped class on ${link.name} allows ${opts.ceil} bytes/s, configured ${want.rate}`)
  const filters = (await listFilters(rt, link.index, ROOT_HANDLE)).map((f) => parseU32Options(f.options)).filter((f) => f !== undefined)
  if (filters.length < subnets.list.length) throw drift(`${what}: ${link.name} has ${filters.length} subnet filters, configured ${subnets.list.length}`)
}

/** CHECK of the redirect of `from`'s ingress to `ifb`. */
export async function checkRedirect(rt: Rtnl, from: Link, ifb: Link): Promise<void> {
  const ingress = (await listQdiscs(rt, from.index)).find((q) => q.kind === 'ingress')
  if (ingress === undefined) throw drift(`egress shaping: no ingress qdisc on ${from.name}`)
  const filters = (await listFilters(rt, from.index, INGRESS_HANDLE)).map((f) => parseU32Options(f.options))
  if (!filters.some((f) => f?.redirectTo === ifb.index)) throw drift(`egress shaping: nothing on ${from.name}'s ingress redirects to ${ifb.name}`)
}
