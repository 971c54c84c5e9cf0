// Network namespace handles and the one place that switches the calling thread's namespace.
//
// setns(CLONE_NEWNET) moves only the calling thread. JS runs on the main thread, but async fs and dns
// run on libuv's pool, which stays where it was; so switching is synchronous only: withNetnsSync()
// switches, runs a synchronous function (open a netlink socket, write a sysctl, fork a child) and
// switches back in `finally`. What async code holds afterwards is a handle bound to the namespace.
import { closeSync, fstatSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, constants as fsc } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { native } from '../../native/index.js'
import { CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, NSFS_MAGIC, PROC_SUPER_MAGIC } from '../../native/binding.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode, SysError } from '../errors/sys-error.js'

export const NETNS_RUN_DIR = '/run/netns'

/**
 * A network namespace's identity as a file-name part, `<dev>-<ino>-<cookie>` (default: this thread's).
 * Per-host-namespace state directories are named by it, because several "hosts" (rig namespaces) on one
 * machine share /run. The cookie (SO_NETNS_COOKIE) is there because the kernel reuses a dead namespace's
 * inode number: a new namespace must not find a dead one's records. Throws the fs error when the file is
 * not there; reading another namespace's cookie enters it for a moment (CAP_SYS_ADMIN).
 */
export function netnsFileKey(nsPath = '/proc/thread-self/ns/net'): string {
  const st = statSync(nsPath)
  const own = statSync('/proc/thread-self/ns/net')
  let cookie: string
  if (st.dev === own.dev && st.ino === own.ino) cookie = native().netnsCookie()
  else {
    const h = NetnsHandle.open(nsPath)
    try {
      cookie = withNetnsSync(h, () => native().netnsCookie())
    } finally {
      h.close()
    }
  }
  return `${st.dev}-${st.ino}-${cookie}`
}

export class NetnsHandle {
  readonly path: string
  #fd: number
  readonly #id: string

  private constructor(path: string, fd: number) {
    this.path = path
    this.#fd = fd
    const st = fstatSync(fd)
    this.#id = `${st.dev}:${st.ino}`
  }

  /** Opens a namespace file (/proc/PID/ns/net or a bind mount under /run/netns) and checks it is one. */
  static open(path: string): NetnsHandle {
    let fd: number
    try {
      fd = openSync(path, fsc.O_RDONLY)
    } catch (e) {
      throw new NetnsNotFoundError(path, errorCode(e) ?? 'EIO', { cause: e })
    }
    try {
      const type = native().fstatfsType(fd)
      if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC) {
        throw new CniError(CniCode.InvalidEnv, `${path} is not a network namespace (CNI_NETNS must name a netns file)`)
      }
      return new NetnsHandle(path, fd)
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  /** The calling thread's current network namespace. */
  static current(): NetnsHandle {
    return NetnsHandle.open('/proc/thread-self/ns/net')
  }

  get fd(): number {
    if (this.#fd < 0) throw new Error(`netns handle for ${this.path} is closed`)
    return this.#fd
  }

  /** dev:ino, equal for two handles of the same namespace. */
  get id(): string {
    return this.#id
  }

  equals(other: NetnsHandle): boolean {
    return this.#id === other.#id
  }

  close(): void {
    if (this.#fd >= 0) {
      closeSync(this.#fd)
      this.#fd = -1
    }
  }
}

/** The namespace file does not exist (a DEL treats this as "container already gone"). */
export class NetnsNotFoundError extends CniError {
  readonly errnoCode: string
  constructor(path: string, errnoCode: string, options?: ErrorOptions) {
    super(CniCode.InvalidEnv, `network namespace ${path} cannot be opened (${errnoCode}): check CNI_NETNS`, undefined, options)
    this.errnoCode = errnoCode
  }
}

/**
 * Runs `fn` with the calling thread inside `target`, and always switches back.
 * `fn` must be synchronous; a failure to switch back ends the process, since every later
 * operation would run in the wrong namespace.
 */
export function withNetnsSync<T>(target: NetnsHandle | undefined, fn: () => T): T {
  if (target === undefined) return fn()
  const n = native()
  const origin = openSync('/proc/thread-self/ns/net', fsc.O_RDONLY)
  try {
    n.setns(target.fd, CLONE_NEWNET)
    try {
      const r = fn()
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        throw new TypeError('withNetnsSync: the callback must be synchronous (it returned a promise)')
      }
      return r
    } finally {
      restoreOrDie(origin)
    }
  } finally {
    closeSync(origin)
  }
}

/**
 * setns back to `origin` (a namespace fd) or end: nothing may run in the wrong namespace. In a worker
 * thread process.exit ends that thread only, and its owner drops it.
 */
export function restoreOrDie(origin: number): void {
  try {
    native().setns(origin, CLONE_NEWNET)
  } catch (e) {
    process.stderr.write(`berth: fatal: cannot return to the original network namespace: ${String(e)}\n`)
    process.exit(70)
  }
}

/**
 * Creates a persistent namespace as `ip netns add` does: a bind mount of a fresh netns at `path`
 * (default /run/netns/NAME), with the run directory made a shared mount so other mount namespaces see it.
 */
export function createNetns(nameOrPath: string): string {
  const path = nameOrPath.includes('/') ? nameOrPath : join(NETNS_RUN_DIR, validNetnsName(nameOrPath))
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  if (dir === NETNS_RUN_DIR) ensureSharedMount(dir)
  try {
    writeFileSync(path, '', { flag: 'wx', mode: 0o444 })
  } catch (e) {
    if (errorCode(e) === 'EEXIST') throw new CniError(CniCode.LinkConflict, `network namespace ${path} already exists`)
    throw e
  }
  const n = native()
  const origin = openSync('/proc/thread-self/ns/net', fsc.O_RDONLY)
  try {
    try {
      n.unshare(CLONE_NEWNET)
      try {
        n.mount('/proc/thread-self/ns/net', path, 'none', MS_BIND, '')
      } finally {
        restoreOrDie(origin)
      }
    } catch (e) {
      rmSync(path, { force: true })
      throw e
    }
  } finally {
    closeSync(origin)
  }
  return path
}

/** Unmounts and removes a persistent namespace; a missing one is not an error. */
export function deleteNetns(nameOrPath: string): void {
  const path = nameOrPath.includes('/') ? nameOrPath : join(NETNS_RUN_DIR, validNetnsName(nameOrPath))
  try {
    native().umount2(path, MNT_DETACH)
  } catch (e) {
    // EINVAL: not a mount point (already unmounted); ENOENT: gone.
    if (!(e instanceof SysError) || (e.code !== 'EINVAL' && e.code !== 'ENOENT')) throw e
  }
  rmSync(path, { force: true })
}

function validNetnsName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name) || basename(name) !== name) {
    throw new CniError(CniCode.InvalidConfig, `invalid network namespace name "${name}": use letters, digits, '.', '_' and '-'`)
  }
  return name
}

function ensureSharedMount(dir: string): void {
  const n = native()
  try {
    n.mount('', dir, 'none', MS_SHARED | MS_REC, '')
  } catch (e) {
    if (!(e instanceof SysError) || e.code !== 'EINVAL') throw e
    // Not a mount point yet: bind it onto itself first, as iproute2 does.
    n.mount(dir, dir, 'none', MS_BIND | MS_REC, '')
    n.mount('', dir, 'none', MS_SHARED | MS_REC, '')
  }
}
