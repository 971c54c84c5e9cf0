// Owner comments: who a per-container nftables element or iptables rule belongs to, written into its
// comment so DEL and GC find it by listing, without the container's namespace or prevResult.
//
//   <tag> [<net tag> ]net:<network> id:<container ID> if:<ifname>
//
//   tag         16 hex digits of sha256("<network>\0<container ID>\0<ifname>"): the attachment. DEL matches
//               it (a comment belongs to an owner when it starts with "<tag> ").
//   net tag     optional, 8 hex digits of sha256("<salt><network>"): lets GC pick one network's entries
//               without trusting the (possibly cut) name. firewall writes it with salt "berth-firewall\0",
//               portmap with no salt; bridge writes none (its GC matches the network name, below).
//   network     the network name, `"` and control characters replaced by `_` (nft refuses them), cut so
//               the whole comment fits OWNER_COMMENT_MAX bytes. A cut name leaves the comment exactly
//               OWNER_COMMENT_MAX bytes long, which is how a reader knows it may be a prefix.
//   container   the first 12 characters of the container ID; ifname in full (at most 15 bytes).
//
// The format is on-kernel state read back by later versions: parsing accepts any comment of this shape
// (with or without a net tag): comments already in the kernel keep matching whichever berth wrote them.
import { createHash } from 'node:crypto'

/** nftables' comment limit (NFTNL_UDATA_COMMENT_MAXLEN), the same as pkg/firewall's NFT_COMMENT_MAX. */
export const OWNER_COMMENT_MAX = 128

/** One attachment as its entries' comments name it. */
export interface Owner {
  network: string
  containerId: string
  ifName: string
  /** 16 hex: what DEL matches */
  tag: string
  /** 8 hex, or undefined when this kind of comment carries none */
  netTag: string | undefined
  /** the comment to write, at most OWNER_COMMENT_MAX bytes */
  comment: string
}

export interface OwnerOptions {
  /**
   * Put a network tag in the comment, sha256(salt + network): '' for the plain hash, a string to keep one
   * plugin's tags apart from another's; undefined (the default): no network tag.
   */
  netTagSalt?: string
}

/** The parts of an owner comment. */
export interface ParsedOwnerComment {
  tag: string
  netTag: string | undefined
  /** the network name as written (maybe cut, see `cut`) */
  network: string
  /** the first 12 characters of the container ID */
  containerId: string
  ifName: string
  /** the comment is full length, so `network` may be a prefix of the real name */
  cut: boolean
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const COMMENT_RE = /^([0-9a-f]{16}) (?:([0-9a-f]{8}) )?net:(.*) id:(\S*) if:(\S*)$/s

/** The attachment's tag: 16 hex of sha256(network, container ID, ifname). */
export const ownerTag = (network: string, containerId: string, ifName: string): string => sha(`${network}\0${containerId}\0${ifName}`).slice(0, 16)

/** A network's tag: 8 hex of sha256(salt + network). */
export const networkTag = (network: string, salt = ''): string => sha(`${salt}${network}`).slice(0, 8)

export function ownerOf(network: string, containerId: string, ifName: string, opts: OwnerOptions = {}): Owner {
  const tag = ownerTag(network, containerId, ifName)
  const netTag = opts.netTagSalt === undefined ? undefined : networkTag(network, opts.netTagSalt)
  const head = `${tag} ${netTag === undefined ? '' : `${netTag} `}net:`
  const tail = ` id:${clean(containerId.slice(0, 12))} if:${clean(ifName)}`
  return { network, containerId, ifName, tag, netTag, comment: `${head}${cutToBytes(clean(network), OWNER_COMMENT_MAX - Buffer.byteLength(head + tail))}${tail}` }
}

/** The parts of a comment written by ownerOf (any version), or undefined when it is not one. */
export function parseOwnerComment(comment: string | undefined): ParsedOwnerComment | undefined {
  const m = COMMENT_RE.exec(comment ?? '')
  if (m === null) return undefined
  return { tag: m[1]!, netTag: m[2], network: m[3] ?? '', containerId: m[4] ?? '', ifName: m[5] ?? '', cut: Buffer.byteLength(comment ?? '') >= OWNER_COMMENT_MAX }
}

/** The owner tag a comment starts with, or '' when it is not an owner comment. */
export const ownerTagOf = (comment: string | undefined): string => /^([0-9a-f]{16}) /.exec(comment ?? '')?.[1] ?? ''

/** Whether a comment belongs to the owner (or the owner tag) given. */
export const ownedBy = (comment: string | undefined, o: Pick<Owner, 'tag'> | string): boolean =>
  comment?.startsWith(`${typeof o === 'string' ? o : o.tag} `) === true

/**
 * Whether an owner comment was written for `network`: by its network tag when both sides have one,
 * otherwise by the name, where a cut name matches every network it is a prefix of.
 */
export function commentOfNetwork(comment: string | undefined, network: string, netTagSalt?: string): boolean {
  const p = parseOwnerComment(comment)
  if (p === undefined) return false
  if (p.netTag !== undefined && netTagSalt !== undefined) return p.netTag === networkTag(network, netTagSalt)
  const name = clean(network)
  return p.network === name || (p.cut && name.startsWith(p.network))
}

/** "net:x id:y if:z" of a comment, for messages. */
export const ownerText = (comment: string | undefined): string => {
  const p = parseOwnerComment(comment)
  return p === undefined ? 'an unknown owner' : `net:${p.network} id:${p.containerId} if:${p.ifName}`
}

function clean(s: string): string {
  return s.replace(/["\p{Cc}\s]/gu, '_')
}

/** The longest prefix of `s` (whole characters) of at most `max` UTF-8 bytes. */
function cutToBytes(s: string, max: number): string {
  if (max <= 0) return ''
  if (Buffer.byteLength(s) <= max) return s
  let out = ''
  let n = 0
  for (const ch of s) {
    const b = Buffer.byteLength(ch)
    if (n + b > max) break
    out += ch
    n += b
  }
  return out
}
