// On-disk records of the mappings of one host network namespace, so that ADD finds conflicts and DEL
// finds its own elements by key instead of listing the whole nftables table (whose cost grows with every
// mapping on the host). Scoped per namespace (/run/berth/portmap/<dev>-<inode>-<cookie> of /proc/thread-self/ns/net/),
// because several hosts (namespaces) of one machine share /run:
//   lock                         serialises ADD, DEL and GC of this namespace
//   generation                   the id of the nftables table these records describe (its marker chain);
//                                a table created anew (a namespace whose inode was reused, a flushed
//                                ruleset) makes every record here stale, and they are wiped
//   legacy                       present when the table may hold elements without records (made by an
//                                older layout, or the records were lost): DEL and ADD then also list
//   owners/<tag>.json            one attachment: owner, planned entries, the map elements it added
//   ports/<f>-<proto>-<port>/<a> a reservation of one host port on address <a> ("any": every address),
//                                holding the owner tag; created with O_EXCL
//   hairpin/<name>/<tag>         the attachments using one shared hairpin element (nft.ts): the last
//                                one's DEL deletes the element
//   tmp/                         the temporary files of atomic writes; under the lock anything here was
//                                left by a process killed before its rename, and is removed
// Records are written before the kernel change and removed after it, so a crash leaves a record that DEL
// and GC can use. Everything here runs under the lock (locked()).
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { removeTempFiles, writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { withLock } from '../../pkg/lock/lock.js'
import type { NftElement } from '../../pkg/firewall/nft-batch.js'
import { netnsFileKey } from '../../pkg/ns/netns.js'
import { OWNER_TAG, PORTMAP_STATE_ROOT, PORTS_DIR, portDirName } from '../../pkg/port-reservations/reservations.js'
import type { HairpinElement } from './nft.js'
import type { Entry } from './plan.js'

export const STATE_ROOT = PORTMAP_STATE_ROOT
const RECORD_VERSION = 1

/** One attachment's record: what DEL deletes (by key) and what its reservations are. */
export interface OwnerRecord {
  version: number
  tag: string
  netTag: string
  comment: string
  backend: 'nftables' | 'iptables'
  /** coalesced entries, for reservations and conntrack */
  entries: Entry[]
  /** nftables only: the elements added, by map or set name (keys only matter for deletion) */
  elements: { set: string; elem: NftElement }[]
  /** nftables only: the shared hairpin elements it uses */
  hairpin: HairpinElement[]
}

/** A reservation held by someone else. */
export interface Holder {
  entry: Pick<Entry, 'family' | 'hostIP' | 'protocol' | 'hostPort' | 'hostPortEnd'>
  owner: OwnerRecord
}

const ioError = (what: string, e: unknown) => new CniError(CniCode.IoFailure, `portmap state: failed to ${what}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
const isMissing = (e: unknown) => errorCode(e) === 'ENOENT'

/** The tag of an owner (plan.ts): anything else is not a file name we made. */
const TAG = OWNER_TAG

export class PortmapState {
  readonly dir: string

  private constructor(dir: string) {
    this.dir = dir
  }

  /** The state of the current network namespace (the host's: plugins run there). */
  static open(root = STATE_ROOT, nsPath = '/proc/thread-self/ns/net'): PortmapState {
    let id: string
    try {
      id = netnsFileKey(nsPath)
    } catch (e) {
      throw ioError(`identify the network namespace (${nsPath})`, e)
    }
    const dir = join(root, id)
    try {
      mkdirSync(join(dir, 'owners'), { recursive: true, mode: 0o700 })
      mkdirSync(join(dir, 'ports'), { recursive: true, mode: 0o700 })
      mkdirSync(join(dir, 'hairpin'), { recursive: true, mode: 0o700 })
      mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 })
    } catch (e) {
      throw ioError(`create ${dir}`, e)
    }
    return new PortmapState(dir)
  }

  get lockPath(): string {
    return join(this.dir, 'lock')
  }

  /** Runs `fn` holding the namespace's lock, after removing what killed writers left in tmp/. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(this.lockPath, () => {
      removeTempFiles(this.#tmp)
      return fn()
    })
  }

  get #tmp(): string {
    return join(this.dir, 'tmp')
  }

  // No fsync: the records describe kernel state that no reboot keeps either, and a killed writer leaves the
  // old file or the new one whole (rename).
  #write(path: string, data: string): void {
    writeFileAtomicSync(path, data, { sync: false, syncDir: false, tmpDir: this.#tmp })
  }

  generation(): string | undefined {
    return readText(join(this.dir, 'generation'))?.trim() || undefined
  }

  get legacy(): boolean {
    return readText(join(this.dir, 'legacy')) !== undefined
  }

  /** Forgets every record (they describe another table) and starts generation `gen`. */
  reset(gen: string, legacy: boolean): void {
    try {
      for (const sub of ['owners', 'ports', 'hairpin']) {
        rmSync(join(this.dir, sub), { recursive: true, force: true })
        // recursive: another process's open() (outside the lock) may have made it again meanwhile
        mkdirSync(join(this.dir, sub), { recursive: true, mode: 0o700 })
      }
      if (legacy) this.#write(join(this.dir, 'legacy'), 'elements without records may exist\n')
      else rmSync(join(this.dir, 'legacy'), { force: true })
    } catch (e) {
      if (e instanceof CniError) throw e
      throw ioError('reset records', e)
    }
    this.#write(join(this.dir, 'generation'), `${gen}\n`)
  }

  /** Every element has a record again: ADD and DEL stop listing. */
  clearLegacy(): void {
    rmSync(join(this.dir, 'legacy'), { force: true })
  }

  readOwner(tag: string): OwnerRecord | undefined {
    if (!TAG.test(tag)) return undefined
    const text = readText(join(this.dir, 'owners', `${tag}.json`))
    if (text === undefined) return undefined
    try {
      const r = JSON.parse(text) as OwnerRecord
      return r.version === RECORD_VERSION && r.tag === tag && Array.isArray(r.entries) && Array.isArray(r.elements) && Array.isArray(r.hairpin) ? r : undefined
    } catch {
      // A torn or foreign file: as if missing (DEL then falls back to listing).
      return undefined
    }
  }

  owners(): OwnerRecord[] {
    return readNames(join(this.dir, 'owners'))
      .filter((n) => n.endsWith('.json'))
      .map((n) => this.readOwner(n.slice(0, -5)))
      .filter((r): r is OwnerRecord => r !== undefined)
  }

  /** The first reservation of another live owner that `entries` would take; stale ones are removed. */
  findHolder(entries: readonly Entry[], myTag: string, live: (o: OwnerRecord) => boolean = () => true): Holder | undefined {
    for (const e of entries) {
      for (let p = e.hostPort; p <= e.hostPortEnd; p++) {
        const dir = this.portDir(e, p)
        for (const name of readNames(dir)) {
          if (e.hostIP !== undefined && name !== 'any' && name !== e.hostIP) continue
          const tag = readText(join(dir, name))?.trim() ?? ''
          if (tag === myTag) continue
          const owner = this.readOwner(tag)
          const held = owner?.entries.find((x) => x.family === e.family && x.protocol === e.protocol && x.hostPort <= p && p <= x.hostPortEnd && (x.hostIP ?? 'any') === name)
          if (owner === undefined || held === undefined || !live(owner)) {
            // Left by a crash between the record's removal and the reservation's, or by an owner the
            // kernel does not know: nobody holds it.
            rmSync(join(dir, name), { force: true })
            continue
          }
          return { entry: held, owner }
        }
      }
    }
    return undefined
  }

  /** Writes the record (atomically), then takes its reservations (O_EXCL; our own are rewritten). */
  record(rec: OwnerRecord): void {
    this.#write(join(this.dir, 'owners', `${rec.tag}.json`), JSON.stringify(rec))
    for (const h of rec.hairpin) {
      const dir = this.hairpinDir(h)
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        writeFileSync(join(dir, rec.tag), '', { mode: 0o600 })
      } catch (e) {
        throw ioError(`record hairpin use ${h.name}`, e)
      }
    }
    for (const [dir, name] of this.reservations(rec)) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        writeFileSync(join(dir, name), `${rec.tag}\n`, { flag: 'wx', mode: 0o600 })
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw ioError(`reserve ${join(dir, name)}`, e)
        if (readText(join(dir, name))?.trim() !== rec.tag) {
          throw new CniError(CniCode.InvalidConfig, `host port reservation ${join(dir, name)} is held by another attachment`)
        }
      }
    }
  }

  /** Of these hairpin elements, those no attachment uses but `tag` (its DEL deletes them). */
  unusedHairpin(hairpin: readonly HairpinElement[], tag = ''): HairpinElement[] {
    return hairpin.filter((h) => readNames(this.hairpinDir(h)).every((t) => t === tag))
  }

  /** Removes the record's reservations that are still its own and its hairpin uses, then the record. */
  forget(rec: OwnerRecord): void {
    for (const h of rec.hairpin) {
      rmSync(join(this.hairpinDir(h), rec.tag), { force: true })
      try {
        rmdirSync(this.hairpinDir(h))
      } catch {
        // still used by others, or already gone
      }
    }
    for (const [dir, name] of this.reservations(rec)) {
      // Empty: record() was killed between creating the file and writing the tag into it.
      const holder = readText(join(dir, name))?.trim()
      if (holder === rec.tag || holder === '') rmSync(join(dir, name), { force: true })
      try {
        rmdirSync(dir)
      } catch {
        // not empty (another address of the port is reserved) or already gone
      }
    }
    rmSync(join(this.dir, 'owners', `${rec.tag}.json`), { force: true })
  }

  private hairpinDir(h: HairpinElement): string {
    // Names are made by nft.ts from addresses and prefix lengths: no "/" or "..".
    if (!/^[0-9a-f.:_-]+$/.test(h.name)) throw new CniError(CniCode.InvalidConfig, `invalid hairpin record name ${JSON.stringify(h.name)}`)
    return join(this.dir, 'hairpin', h.name)
  }

  private portDir(e: Pick<Entry, 'family' | 'protocol'>, port: number): string {
    return join(this.dir, PORTS_DIR, portDirName(e.family, e.protocol, port))
  }

  private *reservations(rec: OwnerRecord): Generator<[string, string]> {
    for (const e of rec.entries) for (let p = e.hostPort; p <= e.hostPortEnd; p++) yield [this.portDir(e, p), e.hostIP ?? 'any']
  }
}

/** A new generation id: names the table's marker chain. */
export const newGeneration = (): string => randomBytes(6).toString('hex')

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    if (isMissing(e)) return undefined
    throw ioError(`read ${path}`, e)
  }
}

function readNames(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (e) {
    if (isMissing(e)) return []
    throw ioError(`read ${dir}`, e)
  }
}
