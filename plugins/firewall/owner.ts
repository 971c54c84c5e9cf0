// Who an nftables element or iptables rule belongs to, written into its comment so DEL and GC find it
// by listing, without the container's namespace or prevResult:
//   "<tag> <net> net:<network> id:<container ID, 12 chars> if:<ifname>"
// tag = 16 hex of sha256(network, container ID, ifname); net = 8 hex of sha256(network) (what GC matches).
import { createHash } from 'node:crypto'
import { NFT_COMMENT_MAX } from '../../pkg/firewall/nft-batch.js'
import type { CniResult } from '../../pkg/cni/result.js'
import { canonicalCidr, type IpFamily } from '../../pkg/cni/ip-text.js'

export interface Owner {
  tag: string
  netTag: string
  comment: string
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

export const networkTag = (network: string): string => sha(`berth-firewall\0${network}`).slice(0, 8)

export function ownerOf(network: string, containerId: string, ifName: string): Owner {
  const tag = sha(`${network}\0${containerId}\0${ifName}`).slice(0, 16)
  const netTag = networkTag(network)
  const tail = ` id:${containerId.slice(0, 12)} if:${ifName}`
  const head = `${tag} ${netTag} net:`
  const room = Math.max(0, NFT_COMMENT_MAX - head.length - tail.length)
  // Comments must not hold double quotes or control characters (nft-batch checks); names never do, but be safe.
  const net = network.replace(/["\p{Cc}]/gu, '_').slice(0, room)
  return { tag, netTag, comment: `${head}${net}${tail}` }
}

/** Whether a comment belongs to `o`. */
export const ownedBy = (comment: string | undefined, o: Owner): boolean => comment?.startsWith(`${o.tag} `) === true

/** The owner tag and network tag of a comment written by ownerOf, or undefined. */
export function parseOwnerComment(comment: string | undefined): { tag: string; netTag: string } | undefined {
  const m = /^([0-9a-f]{16}) ([0-9a-f]{8}) net:/.exec(comment ?? '')
  return m ? { tag: m[1]!, netTag: m[2]! } : undefined
}

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
