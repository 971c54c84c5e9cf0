// The firewall plugin's configuration: the reference keys (backend, ingressPolicy,
// iptablesAdminChainName) plus berth's forwardMark, parsed into a typed FirewallConfig. `backend: ""`
// (what podman writes) means the default, nftables. The reference's firewalld backend is not offered.
import * as z from 'zod/mini'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'

export const BACKENDS = ['nftables', 'iptables'] as const
export type Backend = (typeof BACKENDS)[number]
export const INGRESS_POLICIES = ['open', 'same-bridge'] as const
export type IngressPolicy = (typeof INGRESS_POLICIES)[number]
export const DEFAULT_ADMIN_CHAIN = 'CNI-ADMIN'
/**
 * The packet mark bit berth's nftables chain sets on traffic it lets through, and that the one fixed
 * rule berth adds to the host's iptables FORWARD chain accepts. Outside the bits CNI portmap and
 * netavark (0x2000) and kube-proxy (0x4000, 0x8000) use.
 */
export const DEFAULT_FORWARD_MARK = 0x01000000

export interface FirewallConfig {
  netConf: NetConf
  backend: Backend
  ingressPolicy: IngressPolicy
  adminChain: string
  /** a single bit */
  forwardMark: number
}

const opt = z.optional
const CHAIN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,27}$/
const isSingleBit = (n: number) => Number.isInteger(n) && n > 0 && n <= 0x80000000 && (n & (n - 1)) === 0

export const FirewallConfigSchema = z.looseObject({
  backend: opt(z.string()),
  ingressPolicy: opt(z.string()),
  iptablesAdminChainName: opt(z.string().check(z.refine((s) => s === '' || CHAIN.test(s), 'must be an iptables chain name of at most 28 characters'))),
  forwardMark: opt(z.union([z.int(), z.string()])),
})

export function parseFirewallConfig(netConf: NetConf): FirewallConfig {
  const c = parseWith(FirewallConfigSchema, netConf, 'network configuration')
  const bad = (msg: string) => new CniError(CniCode.InvalidConfig, `invalid network configuration: ${msg}`)
  const backend = c.backend === undefined || c.backend === '' ? 'nftables' : c.backend
  if (backend === 'firewalld') throw bad('backend: "firewalld" is not supported by berth; use "nftables" (the default) or "iptables"')
  if (!(BACKENDS as readonly string[]).includes(backend)) throw bad(`backend: expected one of "nftables", "iptables" or "", received ${JSON.stringify(backend)}`)
  const policy = c.ingressPolicy === undefined || c.ingressPolicy === '' ? 'open' : c.ingressPolicy
  if (!(INGRESS_POLICIES as readonly string[]).includes(policy)) throw bad(`ingressPolicy: expected "open" or "same-bridge", received ${JSON.stringify(policy)}`)
  let mark = DEFAULT_FORWARD_MARK
  if (c.forwardMark !== undefined) {
    mark = typeof c.forwardMark === 'number' ? c.forwardMark : /^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(c.forwardMark) ? Number(c.forwardMark) : NaN
    if (!isSingleBit(mark)) throw bad(`forwardMark: must be a single bit such as 0x01000000, received ${JSON.stringify(c.forwardMark)}`)
  }
  return {
    netConf,
    backend: backend as Backend,
    ingressPolicy: policy as IngressPolicy,
    adminChain: c.iptablesAdminChainName === undefined || c.iptablesAdminChainName === '' ? DEFAULT_ADMIN_CHAIN : c.iptablesAdminChainName,
    forwardMark: mark,
  }
}

/** "0x1000000/0x1000000" for iptables' -m mark. */
export function markText(mark: number): string {
  const hex = `0x${mark.toString(16)}`
  return `${hex}/${hex}`
}
