// Crash-safe state files: write a temporary file in the same directory, fsync it, rename it over the
// target, then fsync the directory so the rename itself survives a crash. Readers see the old file or
// the new one, never a partial write. Synchronous: state files are small, and sync fs is also what
// code running inside withNetnsSync may use.
// A process killed between the temporary file's creation and the rename leaves the temporary file: a
// store that must not keep such leftovers gives its temporary files a directory of their own (tmpDir),
// where removeTempFiles finds them without listing the store.
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync, constants as fsc } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'

export interface AtomicWriteOptions {
  /** permission bits of the new file; default 0o600 (state may name containers) */
  mode?: number
  /** fsync the file before the rename; default true. false for files in /run, which no reboot keeps */
  sync?: boolean
  /** fsync the directory after the rename; default true */
  syncDir?: boolean
  /** where the temporary file is made (an existing directory on path's filesystem); default: path's directory */
  tmpDir?: string
}

/** A temporary file's name for `target`: ".<base name>.<pid>.<random>.tmp" (removeTempFiles knows it). */
export function tempFileName(target: string): string {
  return `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
}

/** Replaces `path` with `data` atomically. Failures are CniError 5 (IoFailure); the temp file is removed. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path)
  const tmp = join(opts.tmpDir ?? dir, tempFileName(path))
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  let fd = -1
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, opts.mode ?? 0o600)
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off)
    if (opts.sync !== false) fsyncSync(fd)
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

/**
 * Removes the temporary files in `tmpDir` made for `target` (by base name), or every temporary file there
 * when no target is given. Only for files no writer can be using: the caller holds the store's lock, or
 * writes to `target` are serialised in some other way. Missing directory: nothing to do.
 */
export function removeTempFiles(tmpDir: string, target?: string): void {
  let names: string[]
  try {
    names = readdirSync(tmpDir)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return
    throw new CniError(CniCode.IoFailure, `failed to list ${tmpDir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  const prefix = target === undefined ? undefined : `.${basename(target)}.`
  for (const n of names) {
    const ours = prefix === undefined ? n.startsWith('.') && TEMP_TAIL.test(n) : n.startsWith(prefix) && TEMP_SUFFIX.test(n.slice(prefix.length))
    if (ours) rmSync(join(tmpDir, n), { force: true })
  }
}

// What tempFileName puts after the base name: "<pid>.<8 hex>.tmp".
const TEMP_SUFFIX = /^\d+\.[0-9a-f]{8}\.tmp$/
const TEMP_TAIL = /\.\d+\.[0-9a-f]{8}\.tmp$/
