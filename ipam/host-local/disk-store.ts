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
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync, constants as fsc } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { canonicalIp } from '../../pkg/cni/ip-text.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { formatIp, parseIp, type IpAddr } from '../../pkg/ip/cidr.js'
import { withLock } from '../../pkg/lock/lock.js'
import type { StoreLocation } from './config.js'
import type { Owner, Reservation, Store } from './store.js'

export const LOCK_FILE = 'lock'
export const LAST_RESERVED_PREFIX = 'last_reserved_ip.'
export const BOOT_DIR = '.berth-boot'
/** what the reference puts between container ID and ifname */
export const LINE_BREAK = '\r\n'
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id'
const TMP_RE = /^\..*\.tmp$/

export interface DiskStoreOptions {
  /** the current boot's ID; default: read from /proc; null: unknown (records nothing) */
  bootId?: string | null
  lockTimeoutMs?: number
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
    return withLock(join(this.dir, LOCK_FILE), fn, this.#lockTimeoutMs === undefined ? {} : { timeoutMs: this.#lockTimeoutMs })
  }

  reserve(ip: IpAddr, owner: Owner, rangeSetIndex: number): boolean {
    const name = formatIp(ip.bytes)
    const path = join(this.dir, name)
    const tmp = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      writeNew(tmp, `${owner.containerId.trim()}${LINE_BREAK}${owner.ifName}`)
      try {
        linkSync(tmp, path)
      } catch (e) {
        if (errorCode(e) === 'EEXIST') return false
        throw e
      }
    } catch (e) {
      throw ioError(`failed to reserve ${name} in ${this.dir}`, e)
    } finally {
      rmSync(tmp, { force: true })
    }
    try {
      if (this.bootId !== undefined) {
        const rec: BootRecord = { bootId: this.bootId, containerId: owner.containerId.trim(), ifName: owner.ifName, ino: statSync(path).ino }
        mkdirSync(join(this.dir, BOOT_DIR), { recursive: true, mode: 0o755 })
        writeFileAtomicSync(join(this.dir, BOOT_DIR, name), JSON.stringify(rec), { syncDir: false })
      }
      // Also makes the link above durable: it syncs the directory after its rename.
      writeFileAtomicSync(join(this.dir, `${LAST_RESERVED_PREFIX}${rangeSetIndex}`), name)
    } catch (e) {
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
    try {
      rmSync(join(this.dir, name), { force: true })
      rmSync(join(this.dir, BOOT_DIR, name), { force: true })
    } catch (e) {
      throw ioError(`failed to release ${name} in ${this.dir}`, e)
    }
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
  }

  /** Names in the directory that are addresses (the reference's own files and ours are not). */
  #entries(): string[] {
    return safeReaddir(this.dir).filter((f) => !f.startsWith('.') && canonicalIp(f) !== undefined)
  }

  #read(name: string): Reservation | undefined {
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
    return { ip: parseIp(c.text), containerId, ifName, bootId: this.#bootOf(name, containerId, ifName, ino) }
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
