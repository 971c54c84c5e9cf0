// What the firewall reads from prevResult: the container's addresses and the bridge it hangs off.
import type { CniResult } from '../../pkg/cni/result.js'
import { canonicalCidr, type IpFamily } from '../../pkg/cni/ip-text.js'

/** The container's addresses from prevResult (without prefix length), by family, without duplicates. */
export function containerAddresses(prev: CniResult | undefined): { family: IpFamily; ip: string }[] {
  const out: { family: IpFamily; ip: string }[] = []
  const seen = new Set<string>()
  for (const ip of prev?.ips ?? []) {
    const c = canonicalCidr(ip.address)
    if (c === undefined) continue
    const addr = c.text.split('/')[0]!
    if (seen.has(addr)) continue
    seen.add(addr)
    out.push({ family: c.family, ip: addr })
  }
  return out
}

/**
 * The bridge a prevResult's container hangs off: the first interface without a sandbox, as the
 * reference's same-bridge policy reads interfaces[0] (bridge's result lists the bridge first).
 */
export function bridgeOf(prev: CniResult | undefined): string | undefined {
  const ifs = prev?.interfaces ?? []
  return (ifs.find((i) => i.sandbox === undefined || i.sandbox === '') ?? ifs[0])?.name || undefined
}
