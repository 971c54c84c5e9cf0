// Crash-safe state files: write a temporary file in the same directory, fsync it, rename it over the
// target, then fsync the directory so the rename itself survives a crash. Readers see the old file or
// the new one, never a partial write. Synchronous: state files are small, and sync fs is also what
// code running inside withNetnsSync may use.
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, constants as fsc } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'

export interface AtomicWriteOptions {
  /** permission bits of the new file; default 0o600 (state may name containers) */
  mode?: number
  /** fsync the directory after the rename; default true */
  syncDir?: boolean
}

/** Replaces `path` with `data` atomically. Failures are CniError 5 (IoFailure); the temp file is removed. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  let fd = -1
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, opts.mode ?? 0o600)
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
    closeSync(fd)
    fd = -1
    renameSync(tmp, path)
  } catch (e) {
    if (fd >= 0) closeSync(fd)
    rmSync(tmp, { force: true })
    throw new CniError(CniCode.IoFailure, `failed to write ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  if (opts.syncDir !== false) syncDirectory(dir)
}

/** fsync(2) on a directory, making renames and unlinks in it durable. */
export function syncDirectory(dir: string): void {
  let fd = -1
  try {
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY)
    fsyncSync(fd)
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to sync directory ${dir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  } finally {
    if (fd >= 0) closeSync(fd)
  }
}
