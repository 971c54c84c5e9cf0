// The bandwidth plugin's configuration: the reference's keys (ingressRate/ingressBurst, egressRate/egressBurst,
// bits per second and bits) at the top level or, when the top level names none of them, in the `bandwidth`
// capability (runtimeConfig.bandwidth), exactly as the reference's Go decoding decides it: one top-level key,
// even 0, makes the configuration win. unshapedSubnets/shapedSubnets (the reference's 1.5 keys) limit
// shaping to traffic with or without those remote subnets.
import * as z from 'zod/mini'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { parseCidr, type IpNet } from '../../pkg/ip/cidr.js'

/** One direction's token bucket, in bits (as configured). */
export interface Limit {
  readonly rate: number
  readonly burst: number
}

export interface BandwidthLimits {
  /** traffic to the container; undefined: not shaped */
  readonly ingress: Limit | undefined
  /** traffic from the container */
  readonly egress: Limit | undefined
  /** remote subnets whose traffic is shaped (the rest is not), or not shaped (the rest is) */
  readonly subnets: { readonly list: readonly IpNet[]; readonly exclude: boolean }
}

export interface BandwidthConfig {
  netConf: NetConf
  /** undefined: nothing to shape (no limits, or all of them 0) */
  limits: BandwidthLimits | undefined
}

const opt = z.optional
// Go's uint64; JSON numbers above 2^53 are not exact in any JSON reader but Go's, so they are refused.
const bits = z.int().check(z.minimum(0))
const subnets = z.nullable(z.array(z.string()))
const Entry = {
  ingressRate: opt(bits),
  ingressBurst: opt(bits),
  egressRate: opt(bits),
  egressBurst: opt(bits),
  unshapedSubnets: opt(subnets),
  shapedSubnets: opt(subnets),
}
const ENTRY_KEYS = Object.keys(Entry) as (keyof typeof Entry)[]
type EntryValue = z.infer<z.ZodMiniObject<typeof Entry>>

export const BandwidthConfigSchema = z.looseObject({
  ...Entry,
  runtimeConfig: opt(z.looseObject({ bandwidth: opt(z.nullable(z.looseObject(Entry))) })),
})

/** burst/8 must fit the kernel's u32 byte counts (the reference's "burst cannot be more than 4GB"). */
const MAX_BURST_BYTES = 0xffffffff

export interface ParseOptions {
  /** false for DEL and GC: only the network's name matters there, so bad limits must not block cleanup */
  strict?: boolean
}

export function parseBandwidthConfig(netConf: NetConf, opts: ParseOptions = {}): BandwidthConfig {
  if (opts.strict === false) return { netConf, limits: undefined }
  const c = parseWith(BandwidthConfigSchema, netConf, 'network configuration')
  const top = ENTRY_KEYS.some((k) => c[k] !== undefined)
  const fromCapability = !top && c.runtimeConfig?.bandwidth != null
  const entry: EntryValue | undefined = top ? c : (c.runtimeConfig?.bandwidth ?? undefined)
  if (entry === undefined) return { netConf, limits: undefined }
  const where = fromCapability ? 'runtimeConfig.bandwidth.' : ''
  const ingress = limitOf(entry.ingressRate, entry.ingressBurst, `${where}ingress`)
  const egress = limitOf(entry.egressRate, entry.egressBurst, `${where}egress`)
  const unshaped = entry.unshapedSubnets ?? []
  const shaped = entry.shapedSubnets ?? []
  if (unshaped.length > 0 && shaped.length > 0) {
    throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${where}unshapedSubnets and ${where}shapedSubnets cannot both be set; keep one of them`)
  }
  const exclude = unshaped.length > 0
  const list = (exclude ? unshaped : shaped).map((s, i) => subnetOf(s, `${where}${exclude ? 'unshapedSubnets' : 'shapedSubnets'}[${i}]`))
  if (ingress === undefined && egress === undefined) return { netConf, limits: undefined }
  return { netConf, limits: { ingress, egress, subnets: { list, exclude } } }
}

function limitOf(rate: number | undefined, burst: number | undefined, what: string): Limit | undefined {
  const r = rate ?? 0
  const b = burst ?? 0
  if (r !== 0 && b === 0) throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${what}Rate is set, so ${what}Burst must be set too (bits)`)
  if (r === 0 && b !== 0) throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${what}Burst is set, so ${what}Rate must be set too (bits per second)`)
  if (Math.floor(b / 8) >= MAX_BURST_BYTES) throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${what}Burst ${b} is too large: at most 4 GB (${MAX_BURST_BYTES * 8 - 1} bits)`)
  // Under 8 bits/s the byte rate the kernel takes is 0: nothing could pass.
  if (r !== 0 && r < 8) throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${what}Rate ${r} is too small: at least 8 bits per second`)
  return r === 0 ? undefined : { rate: r, burst: b }
}

function subnetOf(text: string, what: string): IpNet {
  try {
    if (!text.includes('/')) throw new Error('no prefix length')
    return parseCidr(text)
  } catch {
    throw new CniError(CniCode.InvalidConfig, `invalid network configuration: ${what}: "${text}" is not a subnet like 10.0.0.0/8 or fd00::/64`)
  }
}
