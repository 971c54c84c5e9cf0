// System-call and netlink failures, shaped like Node's ErrnoException so callers match on `code`.
import { constants } from 'node:os'

// Where two names share a number, use the one the kernel's headers and iproute2 print.
const PREFERRED = new Set(['EAGAIN', 'EDEADLK', 'EOPNOTSUPP'])
const errnoNames = new Map<number, string>()
for (const [k, v] of Object.entries(constants.errno)) if (!errnoNames.has(v) || PREFERRED.has(k)) errnoNames.set(v, k)

export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`
}

/** Thrown by native/ (the addon builds this class, better-sqlite3 style). */
export class SysError extends Error {
  override readonly name = 'SysError'
  readonly syscall: string
  readonly code: string
  readonly errno: number
  readonly path: string | undefined
  /** extra text from the library that failed (libnftables' error output, dlerror()) */
  readonly detail: string | undefined
  constructor(syscall: string, errno: number, path?: string, detail?: string) {
    const code = errnoName(errno)
    super(`${syscall}${path === undefined ? '' : ' ' + path}: ${code}${detail ? ` (${detail})` : ''}`)
    this.syscall = syscall
    this.errno = Math.abs(errno)
    this.code = code
    this.path = path
    this.detail = detail
  }
}

/** Built by pkg/link from an NLMSG_ERROR reply (negative errno), with the operation and object. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError'
  readonly op: string
  readonly code: string
  readonly errno: number
  readonly target: string | undefined
  constructor(op: string, errno: number, target?: string) {
    const code = errnoName(errno)
    super(`${op}${target === undefined ? '' : ' ' + target}: ${code}`)
    this.op = op
    this.errno = Math.abs(errno)
    this.code = code
    this.target = target
  }
}

/** The errno-style code of any error, or undefined (rimraf's errorCode). */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code
  }
  return undefined
}
