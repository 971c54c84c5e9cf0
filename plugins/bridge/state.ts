// Per-attachment records, so DEL removes exactly what ADD made without listing anything that grows with
// the number of containers (the NAT maps, the host's links, the spoof-check sets).
//
// /run/berth/bridge/<dev>-<ino>-<cookie>/  one directory per host network namespace (netnsFileKey:
//                                     dev, inode and cookie of /proc/thread-self/ns/net): several "hosts"
//                                     (namespaces) on one machine share /run. tmpfs: cleared on reboot with the kernel state it mirrors.
//   att/<owner tag>.json              { v, network, containerId, ifName, hostVeth?, nat?, spoof? }
//   nat/<address>                     the owner tag of the NAT map element keyed by that address
//   tmp/                              the temporary files of those writes: a process killed before its
//                                     rename leaves one here, and the DEL of its owner removes it
//
// Each record is written (atomically) before the kernel change it describes, so a crash halfway through
// ADD still leaves it. A record is a hint, never the authority: a namespace's inode number is reused
// once it dies, so a directory may hold leftovers of a dead namespace. DEL therefore deletes a NAT
// element only while nat/<address> names its owner (every ADD writes it), a host veth only while its
// alias carries the owner tag, and falls back to listing (by owner comment) whenever a record and the
// kernel disagree. Without a record (written by an older berth, or lost), DEL lists as before.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { removeTempFiles, writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { netnsFileKey } from '../../pkg/ns/netns.js'
import { formatIp, parseIp } from '../../pkg/ip/cidr.js'

export const STATE_ROOT = '/run/berth/bridge'
const VERSION = 1
const TAG_RE = /^[0-9a-f]{16}$/

export interface AttachmentRecord {
  v: number
  network: string
  containerId: string
  ifName: string
  /** the host end of the veth pair (the name ADD chose; written before the pair is created) */
  hostVeth?: { name: string }
  /** nftables NAT: the addresses keyed in src4/src6 */
  nat?: { keys: string[] }
  /** the MAC spoof check: the port (host veth) and the container's MAC */
  spoof?: { port: string; mac: string }
}

/** The state directory of a network namespace (default: this process's) under `root`. */
export function stateDirOfNetns(nsPath = '/proc/thread-self/ns/net', root = STATE_ROOT): string {
  return join(root, netnsFileKey(nsPath))
}

// Records live in /run, which no reboot keeps, and a killed writer leaves the old file or the new one
// whole (rename): no fsync (each costs ~1 ms on a disk-backed /run, three per ADD).
const RUN_WRITE = (tmpDir: string) => ({ sync: false, syncDir: false, tmpDir })

export class BridgeState {
  readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  static current(root = STATE_ROOT): BridgeState {
    return new BridgeState(stateDirOfNetns(undefined, root))
  }

  /** The record of an owner tag; undefined when missing or unreadable (DEL then lists, as before records). */
  read(tag: string): AttachmentRecord | undefined {
    const path = this.#att(tag)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      return undefined
    }
    return parseRecord(text)
  }

  write(tag: string, rec: Omit<AttachmentRecord, 'v'>): void {
    mkdirSync(join(this.dir, 'att'), { recursive: true, mode: 0o700 })
    mkdirSync(this.#tmp, { recursive: true, mode: 0o700 })
    writeFileAtomicSync(this.#att(tag), JSON.stringify({ v: VERSION, ...rec }), RUN_WRITE(this.#tmp))
  }

  /** The record and what a killed writer left of it (writes of one attachment never overlap: the runtime's order). */
  remove(tag: string): void {
    rmSync(this.#att(tag), { force: true })
    removeTempFiles(this.#tmp, this.#att(tag))
  }

  /** Every record with its tag (GC only: grows with the number of attachments). */
  list(): { tag: string; rec: AttachmentRecord }[] {
    let names: string[]
    try {
      names = readdirSync(join(this.dir, 'att'))
    } catch {
      return []
    }
    const out: { tag: string; rec: AttachmentRecord }[] = []
    for (const n of names) {
      const tag = n.endsWith('.json') ? n.slice(0, -'.json'.length) : ''
      if (!TAG_RE.test(tag)) continue
      const rec = this.read(tag)
      if (rec !== undefined) out.push({ tag, rec })
    }
    return out
  }

  /** Records that the NAT elements of `keys` (addresses) now belong to `tag`. */
  claimNatKeys(tag: string, keys: readonly string[]): void {
    if (keys.length === 0) return
    mkdirSync(join(this.dir, 'nat'), { recursive: true, mode: 0o700 })
    mkdirSync(this.#tmp, { recursive: true, mode: 0o700 })
    for (const k of keys) writeFileAtomicSync(this.#nat(k), tag, RUN_WRITE(this.#tmp))
  }

  /** The owner tag recorded for the NAT element of address `key`, or undefined. */
  natKeyOwner(key: string): string | undefined {
    const path = this.#nat(key)
    try {
      const tag = readFileSync(path, 'utf8').trim()
      return TAG_RE.test(tag) ? tag : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Forgets the keys still recorded as `tag`'s, and the temporary files of keys recorded as nobody's (a
   * claim killed before its rename): while `tag` holds the address, no other attachment claims it.
   */
  releaseNatKeys(tag: string, keys: readonly string[]): void {
    for (const k of keys) {
      const owner = this.natKeyOwner(k)
      if (owner === tag) rmSync(this.#nat(k), { force: true })
      if (owner === tag || owner === undefined) removeTempFiles(this.#tmp, this.#nat(k))
    }
  }

  get #tmp(): string {
    return join(this.dir, 'tmp')
  }

  #att(tag: string): string {
    if (!TAG_RE.test(tag)) throw new Error(`bridge state: bad owner tag ${JSON.stringify(tag)}`)
    return join(this.dir, 'att', `${tag}.json`)
  }

  /** The address in canonical text (no path separators can come out of formatIp). */
  #nat(key: string): string {
    return join(this.dir, 'nat', formatIp(parseIp(key).bytes))
  }
}

function parseRecord(text: string): AttachmentRecord | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null) return undefined
  const r = raw as Record<string, unknown>
  const str = (x: unknown): x is string => typeof x === 'string'
  if (r['v'] !== VERSION || !str(r['network']) || !str(r['containerId']) || !str(r['ifName'])) return undefined
  const rec: AttachmentRecord = { v: VERSION, network: r['network'], containerId: r['containerId'], ifName: r['ifName'] }
  const hv = r['hostVeth'] as { name?: unknown } | undefined
  if (hv !== undefined && str(hv?.name)) rec.hostVeth = { name: hv.name }
  const nat = r['nat'] as { keys?: unknown } | undefined
  if (nat !== undefined && Array.isArray(nat?.keys) && nat.keys.every(str)) rec.nat = { keys: nat.keys as string[] }
  const sp = r['spoof'] as { port?: unknown; mac?: unknown } | undefined
  if (sp !== undefined && str(sp?.port) && str(sp?.mac)) rec.spoof = { port: sp.port, mac: sp.mac }
  return rec
}
