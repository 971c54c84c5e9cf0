// An exclusive file lock over flock(2), as CNI host-local's disk/lock.go, with a timeout.
//
// flock locks belong to an open file description: every acquire opens the file anew, so two holders in
// the same process exclude each other just as two processes do, and the lock is held for as long as the
// descriptor stays open: across awaits, until release() (or process exit, which the kernel cleans up).
import { closeSync, fstatSync, openSync, constants as fsc } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { native } from '../../native/index.js'
import { LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from '../../native/binding.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000

export interface LockOptions {
  /** give up after this long with CniError 11 (TryAgainLater); default 30 s */
  timeoutMs?: number
  /** a shared (read) lock instead of an exclusive one */
  shared?: boolean
}

export class FileLock {
  readonly path: string
  #fd: number

  private constructor(path: string, fd: number) {
    this.path = path
    this.#fd = fd
  }

  /** Waits (polling without blocking the event loop) until the lock is ours or the timeout passes. */
  static async acquire(path: string, opts: LockOptions = {}): Promise<FileLock> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS
    const deadline = Date.now() + timeoutMs
    const fd = openLockFile(path)
    try {
      for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
        if (tryFlock(fd, path, opts.shared === true)) return new FileLock(path, fd)
        const left = deadline - Date.now()
        if (left <= 0) {
          throw new CniError(CniCode.TryAgainLater, `timed out after ${timeoutMs} ms waiting for lock ${path}`, 'another process holds the lock; try again later')
        }
        await sleep(Math.min(delay, left))
      }
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  /** One attempt: the lock, or undefined when someone else holds it. */
  static tryAcquire(path: string, opts: Pick<LockOptions, 'shared'> = {}): FileLock | undefined {
    const fd = openLockFile(path)
    try {
      if (tryFlock(fd, path, opts.shared === true)) return new FileLock(path, fd)
    } catch (e) {
      closeSync(fd)
      throw e
    }
    closeSync(fd)
    return undefined
  }

  get held(): boolean {
    return this.#fd >= 0
  }

  /** Unlocks and closes; a second call does nothing. */
  release(): void {
    if (this.#fd < 0) return
    const fd = this.#fd
    this.#fd = -1
    try {
      native().flock(fd, LOCK_UN)
    } finally {
      closeSync(fd)
    }
  }
}

/** Runs `fn` (sync or async) while holding the lock at `path`; releases it however `fn` ends. */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = await FileLock.acquire(path, opts)
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

/** Opens (creating 0600 if missing) a regular lock file; a symlink is refused (O_NOFOLLOW). */
function openLockFile(path: string): number {
  let fd: number
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600)
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to open lock file ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd)
    throw new CniError(CniCode.IoFailure, `lock file ${path} is not a regular file`)
  }
  return fd
}

function tryFlock(fd: number, path: string, shared: boolean): boolean {
  try {
    native().flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB)
    return true
  } catch (e) {
    const code = errorCode(e)
    if (code === 'EWOULDBLOCK' || code === 'EAGAIN') return false
    throw new CniError(CniCode.IoFailure, `failed to lock ${path}: ${code ?? String(e)}`, undefined, { cause: e })
  }
}
