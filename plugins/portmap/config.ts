// The portmap plugin's configuration and the `portMappings` capability, parsed and checked before anything
// is touched. Keys are the reference portmap's (snat, markMasqBit, externalSetMarkChain, conditionsV4,
// conditionsV6, backend); unknown keys are ignored. A bad value is CniError 7 naming it; a valid value this
// implementation does not support is CniError 2.
import * as z from 'zod/mini'
import { canonicalIp } from '../../pkg/cni/ip-text.js'
import type { CniResult } from '../../pkg/cni/result.js'
import { formatPath } from '../../pkg/cni/decode.js'
import { keyAsSent, pathAsSent } from '../../pkg/cni/go-keys.js'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { parseCidr, type IpFamily } from '../../pkg/ip/cidr.js'

export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const
export type Protocol = (typeof PROTOCOLS)[number]
export const BACKENDS = ['nftables', 'iptables'] as const
export type Backend = (typeof BACKENDS)[number]
export const DEFAULT_MARK_MASQ_BIT = 13

export interface PortmapConfig {
  netConf: NetConf
  snat: boolean
  markMasqBit: number
  externalSetMarkChain: string | undefined
  conditionsV4: string[]
  conditionsV6: string[]
  backend: Backend
  mappings: PortMapping[]
}

/** One entry of the capability, checked and canonicalised. */
export interface PortMapping {
  hostPort: number
  containerPort: number
  protocol: Protocol
  /** canonical address text; undefined: every host address (of each family the container has) */
  hostIP: string | undefined
}

const opt = z.optional
const PortmapSchema = z.looseObject({
  snat: opt(z.boolean()),
  markMasqBit: opt(z.int().check(z.minimum(0), z.maximum(31))),
  externalSetMarkChain: opt(z.string()),
  conditionsV4: opt(z.array(z.string())),
  conditionsV6: opt(z.array(z.string())),
  backend: opt(z.enum(BACKENDS)),
})

const bad = (msg: string) => new CniError(CniCode.InvalidConfig, msg)

export function parsePortmapConfig(conf: NetConf): PortmapConfig {
  const c = parseWith(PortmapSchema, conf, 'portmap configuration')
  if (c.externalSetMarkChain !== undefined && c.markMasqBit !== undefined) {
    throw bad('invalid portmap configuration: externalSetMarkChain and markMasqBit are mutually exclusive')
  }
  return {
    netConf: conf,
    snat: c.snat ?? true,
    markMasqBit: c.markMasqBit ?? DEFAULT_MARK_MASQ_BIT,
    externalSetMarkChain: c.externalSetMarkChain,
    conditionsV4: c.conditionsV4 ?? [],
    conditionsV6: c.conditionsV6 ?? [],
    backend: c.backend ?? 'nftables',
    mappings: parseMappings(conf.runtimeConfig?.portMappings ?? [], formatPath(pathAsSent(conf, ['runtimeConfig', 'portMappings']))),
  }
}

/** Refuses what this implementation does not do (CniError 2), after validation. */
export function refuseUnsupported(cfg: PortmapConfig): void {
  const no = (key: string, why: string) => new CniError(CniCode.UnsupportedField, `unsupported configuration: ${key}: ${why}`)
  const nft = cfg.backend === 'nftables'
  if (nft && cfg.conditionsV4.length > 0) throw no('conditionsV4', 'iptables match conditions need "backend": "iptables"')
  if (nft && cfg.conditionsV6.length > 0) throw no('conditionsV6', 'iptables match conditions need "backend": "iptables"')
  if (cfg.externalSetMarkChain !== undefined) throw no('externalSetMarkChain', 'berth portmap masquerades by connection state, without a mark chain')
}

/**
 * The capability's entries, each checked; CniError 7 naming the entry (`where` is the list's path, and each
 * key is named as the runtime spelled it: containerd sends "HostPort"). Exact duplicates are dropped.
 */
export function parseMappings(raw: readonly { hostPort: number; containerPort: number; protocol?: string; hostIP?: string }[], where = 'runtimeConfig.portMappings'): PortMapping[] {
  const out: PortMapping[] = []
  raw.forEach((m, i) => {
    const at = (k: string) => `${where}[${i}].${keyAsSent(m, k)}`
    for (const k of ['hostPort', 'containerPort'] as const) {
      const v = m[k]
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw bad(`invalid ${at(k)}: must be between 1 and 65535, received ${String(v)}`)
    }
    const protocol = (m.protocol === undefined || m.protocol === '' ? 'tcp' : m.protocol.toLowerCase()) as Protocol
    if (!PROTOCOLS.includes(protocol)) throw bad(`invalid ${at('protocol')}: must be one of tcp, udp, sctp, received ${JSON.stringify(m.protocol)}`)
    let hostIP: string | undefined
    if (m.hostIP !== undefined && m.hostIP !== '') {
      const ip = canonicalIp(m.hostIP)
      if (ip === undefined) throw bad(`invalid ${at('hostIP')}: expected an IPv4 or IPv6 address, received ${JSON.stringify(m.hostIP)}`)
      // 0.0.0.0 and :: mean "every address of that family", as Docker reads them.
      hostIP = ip.text
    }
    const pm: PortMapping = { hostPort: m.hostPort, containerPort: m.containerPort, protocol, hostIP }
    if (!out.some((o) => sameMapping(o, pm))) out.push(pm)
  })
  return out
}

const sameMapping = (a: PortMapping, b: PortMapping) => a.hostPort === b.hostPort && a.containerPort === b.containerPort && a.protocol === b.protocol && a.hostIP === b.hostIP

/** The container's addresses per family (first of each), from prevResult: ips on an interface in a sandbox. */
export interface ContainerAddr {
  family: IpFamily
  /** "10.88.0.5" */
  ip: string
  /** "10.88.0.5/16" as prevResult gives it */
  cidr: string
}

export function containerAddresses(prev: CniResult): Partial<Record<IpFamily, ContainerAddr>> {
  const out: Partial<Record<IpFamily, ContainerAddr>> = {}
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined) {
      const iface = prev.interfaces?.[ip.interface]
      if (iface !== undefined && (iface.sandbox ?? '') === '') continue
    }
    const slash = ip.address.indexOf('/')
    const addr = canonicalIp(slash < 0 ? ip.address : ip.address.slice(0, slash))
    if (addr === undefined) continue
    parseCidr(ip.address)
    out[addr.family] ??= { family: addr.family, ip: addr.text, cidr: ip.address }
  }
  return out
}

export const familyOf = (ip: string): IpFamily => (ip.includes(':') ? 6 : 4)
