// The reference host-local's on-disk format, so a host can switch between the reference and berth without
// losing reservations:
//   <dataDir>/<network>/lock                 flock'ed (exclusive) around every read-modify-write, by both
//   <dataDir>/<network>/<ip>                 one file per reserved address, named by the address as Go
//                                            prints it, holding "<containerID>\r\n<ifname>" (legacy files
//                                            hold only the container ID; both are read)
//   <dataDir>/<network>/last_reserved_ip.<i> the address last reserved from range set i (round robin)
// berth adds one thing the reference cannot see: <network>/.berth-boot/<ip>, a JSON record of the boot
// the reservation was made in. It is a separate file because the reference matches a reservation by
// comparing the whole trimmed file content with "<id>\r\n<ifname>": an extra line would make every
// reservation berth made invisible to the reference's DEL and CHECK. The reference walks the directory
// recursively and reads the record too, but a JSON object never equals a container ID, so it ignores it.
// The record also names the container, interface and inode of the reservation file: the reference may
// release the address and reserve it again without knowing the record, and a record that no longer
// describes the file is ignored (and swept).
// A reservation file appears atomically with its content: written to a temporary file, then link(2)ed to
// its name, which fails with EEXIST when the address is taken (exclusive create without a partial file).
// Temporary files live in <network>/.berth-tmp/: every writer holds the lock, so whatever is there when
// the lock is taken was left by a process killed mid-write, and is removed then.
// The owner index (berth only), so that ADD, DEL and CHECK never read the other attachments' files:
//   <network>/.berth-owners/<hash of (containerID, ifname)>  JSON {containerId, ifName, ips}: the addresses
//                                            berth reserved (or indexed) for that attachment (ifName null:
//                                            legacy ID-only reservations of that container)
//   <network>/.berth-index/<ip>              a hard link to the reservation file <ip>: "this reservation is
//                                            in the owner index". Written after the owner record, removed
//                                            before the reservation; the reference's DEL, which removes every
//                                            file under the network whose content is the attachment's, removes
//                                            it together with the reservation.
// Whether every reservation is indexed is one readdir of the network and one of .berth-index (no file
// reads): a reservation without its link (the reference's, an older berth's, a crash between link(2) and
// the index) is read and indexed then, once. The index is a hint checked on use: every address it names is
// read and must still hold the owner's reservation.
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync, constants as fsc } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { canonicalIp } from '../cni/ip-text.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'
import { safeJoin } from '../fsutil/safe-path.js'
import { removeTempFiles, tempFileName, writeFileAtomicSync } from '../fsutil/atomic-write.js'
import { formatIp, parseIp, type IpAddr } from '../ip/cidr.js'
import { withLock } from '../lock/lock.js'
import type { StoreLocation } from './config.js'
import { legacyOf, ownedBy, type Owner, type Reservation, type Store } from './store.js'

export const LOCK_FILE = 'lock'
export const LAST_RESERVED_PREFIX = 'last_reserved_ip.'
export const BOOT_DIR = '.berth-boot'
export const INDEX_DIR = '.berth-index'
export const OWNERS_DIR = '.berth-owners'
export const TMP_DIR = '.berth-tmp'
/** what the reference puts between container ID and ifname */
export const LINE_BREAK = '\r\n'
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id'
const TMP_RE = /^\..*\.tmp$/

export interface DiskStoreOptions {
  /** the current boot's ID; default: read from /proc; null: unknown (records nothing) */
  bootId?: string | null
  lockTimeoutMs?: number
}

interface OwnerRecord {
  containerId: string
  /** null: the container's legacy (ID-only) reservations */
  ifName: string | null
  ips: string[]
}

/** The owner record's file name: a hash, as container IDs and ifnames may hold any character. */
export function ownerKey(containerId: string, ifName: string | undefined): string {
  return createHash('sha256').update(JSON.stringify([containerId, ifName ?? null])).digest('hex').slice(0, 40)
}

interface BootRecord {
  bootId: string
  containerId: string
  ifName: string
  ino: number
}

/** The directory of one network's reservations; CniError 7 when the name would leave dataDir. */
export function networkDir(loc: StoreLocation): string {
  return safeJoin(loc.dataDir, loc.name, { what: 'network name' })
}

export function readBootId(path = BOOT_ID_PATH): string | undefined {
  try {
    const id = readFileSync(path, 'utf8').trim()
    return id === '' ? undefined : id
  } catch {
    return undefined
  }
}

export class DiskStore implements Store {
  readonly dir: string
  readonly bootId: string | undefined
  readonly #lockTimeoutMs: number | undefined
  /** every reservation was indexed when last looked, under the current hold of the lock */
  #indexChecked = false

  private constructor(dir: string, opts: DiskStoreOptions) {
    this.dir = dir
    this.bootId = opts.bootId === null ? undefined : (opts.bootId ?? readBootId())
    this.#lockTimeoutMs = opts.lockTimeoutMs
  }

  /** Opens the network's store, creating its directory (ADD, GC). */
  static create(loc: StoreLocation, opts: DiskStoreOptions = {}): DiskStore {
    const dir = networkDir(loc)
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 })
    } catch (e) {
      throw ioError(`failed to create ${dir}`, e)
    }
    return new DiskStore(dir, opts)
  }

  /** Opens an existing store; undefined when the network has no directory (nothing was ever reserved). */
  static openExisting(loc: StoreLocation, opts: DiskStoreOptions = {}): DiskStore | undefined {
    const dir = networkDir(loc)
    try {
      if (!statSync(dir).isDirectory()) throw new CniError(CniCode.IoFailure, `${dir} is not a directory`)
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined
      throw e instanceof CniError ? e : ioError(`failed to open ${dir}`, e)
    }
    return new DiskStore(dir, opts)
  }

  locked<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = () => {
      // Another process may have changed the directory since this one last looked.
      this.#indexChecked = false
      try {
        mkdirSync(this.#tmp, { recursive: true, mode: 0o755 })
        removeTempFiles(this.#tmp)
      } catch (e) {
        throw ioError(`failed to prepare ${this.#tmp}`, e)
      }
      return fn()
    }
    return withLock(join(this.dir, LOCK_FILE), run, this.#lockTimeoutMs === undefined ? {} : { timeoutMs: this.#lockTimeoutMs })
  }

  reserve(ip: IpAddr, owner: Owner, rangeSetIndex: number): boolean {
    const name = formatIp(ip.bytes)
    const path = join(this.dir, name)
    // Taken: no need to write anything to learn it (link(2) below still decides).
    if (existsSync(path)) return false
    const containerId = owner.containerId.trim()
    const tmp = join(this.#tmp, tempFileName(path))
    try {
      // fsync'ed before it gets its name: a reservation is never seen (nor survives a crash) empty.
      writeNew(tmp, `${containerId}${LINE_BREAK}${owner.ifName}`)
      try {
        linkSync(tmp, path)
      } catch (e) {
        if (errorCode(e) === 'EEXIST') return false
        throw e
      }
    } catch (e) {
      rmSync(tmp, { force: true })
      throw ioError(`failed to reserve ${name} in ${this.dir}`, e)
    }
    try {
      // Owner record first, then the index link: a link always has its owner record.
      this.#addToOwner({ containerId, ifName: owner.ifName, ips: [] }, name)
      if (this.bootId !== undefined) {
        const rec: BootRecord = { bootId: this.bootId, containerId, ifName: owner.ifName, ino: statSync(path).ino }
        mkdirSync(join(this.dir, BOOT_DIR), { recursive: true, mode: 0o755 })
        // fsync'ed (the file, not the directory): after a crash the record is whole or absent, so a
        // reservation that outlives the boot is recognised as an earlier boot's.
        writeFileAtomicSync(join(this.dir, BOOT_DIR, name), JSON.stringify(rec), { syncDir: false, tmpDir: this.#tmp })
      }
      mkdirSync(join(this.dir, INDEX_DIR), { recursive: true, mode: 0o755 })
      renameSync(tmp, join(this.dir, INDEX_DIR, name))
      // Not fsync'ed: a torn or lost last_reserved_ip only restarts round robin at the set's start.
      replaceFile(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), name, this.#tmp)
    } catch (e) {
      rmSync(tmp, { force: true })
      // Half a reservation is none: the caller sees the error and must not find the address taken.
      this.#releaseName(name)
      throw ioError(`failed to reserve ${name} in ${this.dir}`, e)
    }
    return true
  }

  release(ip: IpAddr): void {
    const name = formatIp(ip.bytes)
    this.#releaseName(name)
  }

  #releaseName(name: string): void {
    const held = this.#read(name, false)
    try {
      // The index link goes first: a crash in between leaves a reservation that is not indexed, which the
      // next look indexes again, never an index entry that hides a reservation.
      rmSync(join(this.dir, INDEX_DIR, name), { force: true })
      rmSync(join(this.dir, name), { force: true })
      rmSync(join(this.dir, BOOT_DIR, name), { force: true })
      if (held !== undefined) this.#removeFromOwner(held.containerId, held.ifName, name)
    } catch (e) {
      throw ioError(`failed to release ${name} in ${this.dir}`, e)
    }
  }

  /**
   * The owner's reservations (exact and legacy) through the owner index: two readdirs to see that every
   * reservation is indexed (indexing the ones that are not), then only the owner's own files.
   */
  owned(owner: Owner): Reservation[] {
    this.#ensureIndexed()
    const containerId = owner.containerId.trim()
    const out = new Map<string, Reservation>()
    for (const ifName of [owner.ifName, undefined]) {
      const rec = this.#ownerRecord(containerId, ifName)
      if (rec === null) return this.#rebuildOwner(owner)
      for (const name of rec?.ips ?? []) {
        const r = this.#read(name)
        if (r !== undefined && (ownedBy(r, owner) || legacyOf(r, owner))) out.set(name, r)
      }
    }
    return [...out.values()]
  }

  /** Indexes every reservation that is not (made by the reference, an older berth, or cut by a crash). */
  #ensureIndexed(): void {
    if (this.#indexChecked) return
    const indexed = new Set(safeReaddir(join(this.dir, INDEX_DIR)))
    for (const f of safeReaddir(this.dir)) {
      if (indexed.has(f) || f.startsWith('.') || f === LOCK_FILE || f.startsWith(LAST_RESERVED_PREFIX)) continue
      this.#indexName(f)
    }
    this.#indexChecked = true
  }

  #indexName(name: string): void {
    const r = this.#read(name, false)
    if (r === undefined) return
    try {
      this.#addToOwner({ containerId: r.containerId, ifName: r.ifName ?? null, ips: [] }, name)
      mkdirSync(join(this.dir, INDEX_DIR), { recursive: true, mode: 0o755 })
      const tmp = join(this.#tmp, tempFileName(name))
      try {
        linkSync(join(this.dir, name), tmp)
        renameSync(tmp, join(this.dir, INDEX_DIR, name))
      } finally {
        rmSync(tmp, { force: true })
      }
    } catch (e) {
      // Released meanwhile by nobody (we hold the lock), so a real I/O failure.
      if (errorCode(e) === 'ENOENT') return
      throw ioError(`failed to index ${name} in ${this.dir}`, e)
    }
  }

  /** An unreadable owner record (a crash while it was written): found by reading every reservation. */
  #rebuildOwner(owner: Owner): Reservation[] {
    const containerId = owner.containerId.trim()
    const mine = this.list().filter((r) => ownedBy(r, owner) || legacyOf(r, owner))
    for (const ifName of [owner.ifName, null]) {
      const ips = mine.filter((r) => (r.ifName ?? null) === ifName).map((r) => formatIp(r.ip.bytes))
      this.#writeOwner({ containerId, ifName, ips })
    }
    return mine
  }

  /** undefined: no record; null: a record that cannot be read (a crash cut it). */
  #ownerRecord(containerId: string, ifName: string | undefined): OwnerRecord | undefined | null {
    let text: string
    try {
      text = readFileSync(join(this.dir, OWNERS_DIR, ownerKey(containerId, ifName)), 'utf8')
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined
      throw ioError(`failed to read the owner index of ${this.dir}`, e)
    }
    try {
      const rec = JSON.parse(text) as Partial<OwnerRecord>
      const ok = rec.containerId === containerId && rec.ifName === (ifName ?? null) && Array.isArray(rec.ips) && rec.ips.every((x) => typeof x === 'string')
      return ok ? (rec as OwnerRecord) : null
    } catch {
      return null
    }
  }

  #addToOwner(rec: OwnerRecord, name: string): void {
    const ifName = rec.ifName ?? undefined
    const old = this.#ownerRecord(rec.containerId, ifName) ?? undefined
    const ips = old?.ips ?? []
    if (ips.includes(name)) return
    this.#writeOwner({ containerId: rec.containerId, ifName: rec.ifName, ips: [...ips, name] })
  }

  #removeFromOwner(containerId: string, ifName: string | undefined, name: string): void {
    const old = this.#ownerRecord(containerId, ifName)
    if (old === undefined || old === null || !old.ips.includes(name)) return
    this.#writeOwner({ ...old, ips: old.ips.filter((x) => x !== name) })
  }

  /**
   * Not fsync'ed: after a crash a record is whole, absent or unreadable; absent happens only with its
   * reservations' index links absent too (they are written after it), unreadable is rebuilt.
   */
  #writeOwner(rec: OwnerRecord): void {
    const path = join(this.dir, OWNERS_DIR, ownerKey(rec.containerId, rec.ifName ?? undefined))
    if (rec.ips.length === 0) {
      rmSync(path, { force: true })
      return
    }
    mkdirSync(join(this.dir, OWNERS_DIR), { recursive: true, mode: 0o755 })
    replaceFile(path, JSON.stringify(rec), this.#tmp)
  }

  get #tmp(): string {
    return join(this.dir, TMP_DIR)
  }

  get(ip: IpAddr): Reservation | undefined {
    return this.#read(formatIp(ip.bytes))
  }

  list(): Reservation[] {
    const out: Reservation[] = []
    for (const name of this.#entries()) {
      const r = this.#read(name)
      if (r !== undefined) out.push(r)
    }
    return out
  }

  lastReserved(rangeSetIndex: number): IpAddr | undefined {
    let text: string
    try {
      text = readFileSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), 'utf8').trim()
    } catch {
      // Missing or unreadable: round robin restarts at the set's first address, as in the reference.
      return undefined
    }
    const c = canonicalIp(text)
    return c === undefined ? undefined : parseIp(c.text)
  }

  /**
   * Removes what only berth reads and nothing uses any more: boot records that no longer describe their
   * reservation, and temporary files a crash left behind (every writer holds the lock, so under the lock
   * any temporary file is a leftover). Call it holding the lock.
   */
  sweep(): void {
    for (const f of safeReaddir(this.dir)) if (TMP_RE.test(f)) rmSync(join(this.dir, f), { force: true })
    const bootDir = join(this.dir, BOOT_DIR)
    for (const f of safeReaddir(bootDir)) {
      if (TMP_RE.test(f) || this.#read(f)?.bootId === undefined) rmSync(join(bootDir, f), { force: true })
    }
    // Index links whose reservation is gone or is another file now (removed or replaced behind berth's
    // back), and owner records naming nothing that is still theirs.
    const indexDir = join(this.dir, INDEX_DIR)
    for (const f of safeReaddir(indexDir)) {
      if (TMP_RE.test(f) || !sameFile(join(indexDir, f), join(this.dir, f))) rmSync(join(indexDir, f), { force: true })
    }
    const ownersDir = join(this.dir, OWNERS_DIR)
    for (const f of safeReaddir(ownersDir)) {
      let rec: Partial<OwnerRecord> | undefined
      try {
        rec = JSON.parse(readFileSync(join(ownersDir, f), 'utf8')) as Partial<OwnerRecord>
      } catch {
        rec = undefined
      }
      if (TMP_RE.test(f) || rec === undefined || typeof rec.containerId !== 'string' || !Array.isArray(rec.ips) || f !== ownerKey(rec.containerId, rec.ifName ?? undefined)) {
        rmSync(join(ownersDir, f), { force: true })
        continue
      }
      const cid = rec.containerId
      const ifn = rec.ifName ?? undefined
      const ips = rec.ips.filter((n) => {
        const r = typeof n === 'string' ? this.#read(n, false) : undefined
        return r !== undefined && r.containerId === cid && r.ifName === ifn
      })
      if (ips.length !== rec.ips.length) this.#writeOwner({ containerId: cid, ifName: rec.ifName ?? null, ips })
    }
    this.#indexChecked = false
  }

  /** Names in the directory that are addresses (the reference's own files and ours are not). */
  #entries(): string[] {
    return safeReaddir(this.dir).filter((f) => !f.startsWith('.') && canonicalIp(f) !== undefined)
  }

  #read(name: string, withBoot = true): Reservation | undefined {
    const c = canonicalIp(name)
    if (c === undefined) return undefined
    const path = join(this.dir, name)
    let text: string
    let ino: number
    try {
      const st = statSync(path)
      if (!st.isFile()) return undefined
      ino = st.ino
      text = readFileSync(path, 'utf8')
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined
      throw ioError(`failed to read reservation ${path}`, e)
    }
    // Go's strings.TrimSpace, then the reference's separator; a legacy file has no second line.
    const lines = text.trim().split(LINE_BREAK)
    const containerId = lines[0] ?? ''
    const ifName = lines.length > 1 ? lines[1] : undefined
    return { ip: parseIp(c.text), containerId, ifName, bootId: withBoot ? this.#bootOf(name, containerId, ifName, ino) : undefined }
  }

  #bootOf(name: string, containerId: string, ifName: string | undefined, ino: number): string | undefined {
    let rec: Partial<BootRecord>
    try {
      rec = JSON.parse(readFileSync(join(this.dir, BOOT_DIR, name), 'utf8')) as Partial<BootRecord>
    } catch {
      return undefined
    }
    const matches = rec.containerId === containerId && rec.ifName === ifName && rec.ino === ino && typeof rec.bootId === 'string'
    return matches ? rec.bootId : undefined
  }
}

function writeNew(path: string, data: string): void {
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
  try {
    const buf = Buffer.from(data, 'utf8')
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Write + rename, without fsync: for files whose loss or tear in a crash is harmless (said where used). */
function replaceFile(path: string, data: string, tmpDir: string): void {
  const tmp = join(tmpDir, tempFileName(path))
  try {
    const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
    try {
      const buf = Buffer.from(data, 'utf8')
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw ioError(`failed to write ${path}`, e)
  }
}

/** Both names are one existing regular file. */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a)
    const sb = statSync(b)
    return sa.isFile() && sa.ino === sb.ino && sa.dev === sb.dev
  } catch {
    return false
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return []
    throw ioError(`failed to list ${dir}`, e)
  }
}

function ioError(msg: string, e: unknown): CniError {
  if (e instanceof CniError) return e
  return new CniError(CniCode.IoFailure, `${msg}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
}
