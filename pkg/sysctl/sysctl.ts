// Per-namespace sysctls: /proc/sys/net/* resolves in the network namespace of the thread that opens the
// file, so reads and writes happen synchronously inside withNetnsSync (never async fs: libuv's pool
// threads stay in the original namespace).
import { readFileSync, writeFileSync } from 'node:fs'
import { CniCode, CniError } from '../errors/cni-error.js'
import { withNetnsSync, type NetnsHandle } from '../ns/netns.js'

export const PROC_SYS = '/proc/sys'

/** A sysctl key that is malformed or outside what the caller may touch (CNI code 7: it comes from config). */
export class SysctlKeyError extends CniError {
  readonly key: string
  constructor(key: string, why: string) {
    super(CniCode.InvalidConfig, `invalid sysctl key "${key}": ${why}`)
    this.key = key
  }
}

// One path component: what interface names and sysctl names use. No '/', no NUL, no whitespace.
const COMPONENT = /^[A-Za-z0-9_.:@+-]+$/

/**
 * Turns "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.100/forwarding" into a path under /proc/sys.
 * As in sysctl(8), a key containing '/' is a path (so dots in interface names survive); otherwise dots
 * separate components. With `netOnly` (any namespace-scoped call) the key must be under net.
 * Rejects absolute paths, '.', '..', empty components and odd characters.
 */
export function sysctlPath(key: string, opts: { netOnly?: boolean } = {}): string {
  if (key.length === 0 || key.length > 512) throw new SysctlKeyError(key, 'empty or too long')
  if (key.startsWith('/')) throw new SysctlKeyError(key, 'absolute paths are not allowed; use "net.ipv4.ip_forward" or "net/ipv4/ip_forward"')
  const parts = key.includes('/') ? key.split('/') : key.split('.')
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw new SysctlKeyError(key, `bad component "${p}"`)
    if (!COMPONENT.test(p)) throw new SysctlKeyError(key, `bad characters in "${p}"`)
  }
  if (opts.netOnly && parts[0] !== 'net') throw new SysctlKeyError(key, 'only net.* sysctls can be set in a network namespace')
  return `${PROC_SYS}/${parts.join('/')}`
}

/**
 * Reads a sysctl (trailing newline removed) in `ns`, or in the calling thread's namespace when omitted.
 * `sysctl -n KEY` (inside the namespace)
 */
export function readSysctl(key: string, ns?: NetnsHandle): string {
  const path = sysctlPath(key, { netOnly: ns !== undefined })
  return withNetnsSync(ns, () => readFileSync(path, 'utf8')).replace(/\n$/, '')
}

/** Writes a sysctl in `ns`, or in the calling thread's namespace when omitted. `sysctl -w KEY=VALUE` */
export function writeSysctl(key: string, value: string, ns?: NetnsHandle): void {
  const path = sysctlPath(key, { netOnly: ns !== undefined })
  if (/[\n\0]/.test(value)) throw new CniError(CniCode.InvalidConfig, `invalid value for sysctl "${key}": it must be a single line`)
  withNetnsSync(ns, () => writeFileSync(path, value, { flag: 'r+' }))
}
