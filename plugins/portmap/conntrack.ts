// Stale conntrack entries: a UDP or SCTP flow that started before a mapping existed keeps going to the
// host (and one that started before DEL keeps going to the removed container) until it times out, since
// NAT is decided on a flow's first packet only. ADD removes entries to the new host ports; DEL removes
// entries DNATed to the container. Done with the conntrack tool (Debian's `conntrack` package), run with
// an argv in this process's namespace (the host's). Best effort: failures are logged, never fatal.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import type { Log } from '../../pkg/log/log.js'
import type { Protocol } from './config.js'

const CANDIDATES = ['/usr/sbin/conntrack', '/sbin/conntrack', '/usr/bin/conntrack', '/usr/local/sbin/conntrack']
/** Per-port deletes for a range are capped: a wide range is left to conntrack's timeouts. */
export const MAX_PORTS_PER_RANGE = 64

export interface FlushSpec {
  family: IpFamily
  protocol: Protocol
  /** entries whose original destination port is this (ADD) */
  origPortDst?: number
  /** ... and original destination address is this (when the mapping has a hostIP) */
  origDst?: string
  /** entries whose reply source is this: DNATed to the container (DEL) */
  replySrc?: string
}

/** The conntrack argv for one delete (pure, for tests). */
export function conntrackArgs(s: FlushSpec): string[] {
  const a = ['-D', '-f', s.family === 4 ? 'ipv4' : 'ipv6', '-p', s.protocol]
  if (s.origDst !== undefined) a.push('--orig-dst', s.origDst)
  if (s.origPortDst !== undefined) a.push('--orig-port-dst', String(s.origPortDst))
  if (s.replySrc !== undefined) a.push('--reply-src', s.replySrc)
  return a
}

export function flushConntrack(specs: readonly FlushSpec[], log: Log): void {
  if (specs.length === 0) return
  const exe = CANDIDATES.find((p) => existsSync(p))
  if (exe === undefined) {
    log.warn('conntrack tool not found (install the conntrack package): stale UDP/SCTP flows are left to time out')
    return
  }
  for (const s of specs) {
    const r = spawnSync(exe, conntrackArgs(s), { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] })
    // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
    if (r.status === 0 || /flow entries have been deleted/.test(r.stderr ?? '')) continue
    log.warn(`conntrack ${conntrackArgs(s).join(' ')} failed: ${(r.stderr ?? '').trim() || String(r.error ?? r.status)}`)
  }
}
