// Which firewall mechanism to use: nftables (default, through libnftables in the addon) or iptables
// (iptables-restore). Mechanism only: plugins build their own NftBatch / IptablesBatch and apply it
// with nft.ts / iptables.ts; nothing here knows about NAT or port mappings.
import { native as loadNative } from '../../native/index.js'
import type { NativeBinding } from '../../native/binding.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { iptablesTools } from './iptables.js'

export const FIREWALL_BACKENDS = ['nftables', 'iptables'] as const
export type FirewallBackend = (typeof FIREWALL_BACKENDS)[number]
export const DEFAULT_FIREWALL_BACKEND: FirewallBackend = 'nftables'

export interface BackendAvailability {
  backend: FirewallBackend
  available: boolean
  /** why not, when unavailable */
  reason?: string
}

/** What the probes look at; tests replace these. */
export interface BackendProbes {
  native: () => NativeBinding
  iptablesTools: typeof iptablesTools
}

const realProbes: BackendProbes = { native: loadNative, iptablesTools }

/** nftables is available when the addon loads and exports nftRun (it links libnftables). No kernel call is made. */
export function nftablesAvailability(probes: Partial<BackendProbes> = {}): BackendAvailability {
  const load = probes.native ?? realProbes.native
  try {
    const n = load()
    if (typeof n.nftRun !== 'function') return { backend: 'nftables', available: false, reason: 'the native addon has no nftRun (rebuild it)' }
    return { backend: 'nftables', available: true }
  } catch (e) {
    return { backend: 'nftables', available: false, reason: describe(e) }
  }
}

/** iptables is available when iptables-restore and iptables-save (and the ip6tables pair, for dual stack) are installed. */
export function iptablesAvailability(families: readonly (4 | 6)[] = [4, 6], probes: Partial<BackendProbes> = {}): BackendAvailability {
  const tools = probes.iptablesTools ?? realProbes.iptablesTools
  const missing: string[] = []
  for (const f of families) {
    const t = tools(f)
    const prefix = f === 6 ? 'ip6tables' : 'iptables'
    if (t.restore === undefined) missing.push(`${prefix}-restore`)
    if (t.save === undefined) missing.push(`${prefix}-save`)
  }
  return missing.length === 0 ? { backend: 'iptables', available: true } : { backend: 'iptables', available: false, reason: `${missing.join(', ')} not found` }
}

export function probeFirewallBackends(probes: Partial<BackendProbes> = {}): Record<FirewallBackend, BackendAvailability> {
  return { nftables: nftablesAvailability(probes), iptables: iptablesAvailability([4, 6], probes) }
}

/**
 * The backend to use. An explicit choice must be available (else CniError 50 naming the reason);
 * 'auto' prefers nftables, then iptables; undefined means the default, nftables.
 */
export function selectFirewallBackend(requested: FirewallBackend | 'auto' | undefined, probes: Partial<BackendProbes> = {}): FirewallBackend {
  const want = requested ?? DEFAULT_FIREWALL_BACKEND
  if (want !== 'auto' && !(FIREWALL_BACKENDS as readonly string[]).includes(want)) {
    throw new CniError(CniCode.InvalidConfig, `invalid firewall backend "${String(want)}": must be one of ${FIREWALL_BACKENDS.join(', ')} or auto`)
  }
  const order: FirewallBackend[] = want === 'auto' ? ['nftables', 'iptables'] : [want]
  const reasons: string[] = []
  for (const b of order) {
    const a = b === 'nftables' ? nftablesAvailability(probes) : iptablesAvailability([4, 6], probes)
    if (a.available) return b
    reasons.push(`${b}: ${a.reason ?? 'unavailable'}`)
  }
  throw new CniError(CniCode.NotAvailable, `firewall backend ${want} is not available: ${reasons.join('; ')}`)
}
