// Stale conntrack entries: a UDP or SCTP flow that started before a mapping existed keeps going to the
// host (and one that started before DEL keeps going to the removed container) until it times out, since
// NAT is decided on a flow's first packet only. ADD removes entries to the new host ports (both ways a
// packet to the port can match one, see addFlushes); DEL removes entries DNATed to the container. Done
// with the conntrack tool (Debian's `conntrack` package), run with an argv in this process's namespace
// (the host's). Best effort: failures are logged, never fatal.
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
  /** entries whose reply destination port is this: flows the host started from the port (ADD) */
  replyPortDst?: number
  /** ... and reply destination address is this (when the mapping has a hostIP) */
  replyDst?: string
  /** run after this one, then again while it finds entries (see flushConntrack) */
  recheck?: FlushSpec
  /** entries whose reply source is this: DNATed to the container (DEL) */
  replySrc?: string
}

/** The conntrack argv for one delete (pure, for tests). */
export function conntrackArgs(s: FlushSpec): string[] {
  const a = ['-D', '-f', s.family === 4 ? 'ipv4' : 'ipv6', '-p', s.protocol]
  if (s.origDst !== undefined) a.push('--orig-dst', s.origDst)
  if (s.origPortDst !== undefined) a.push('--orig-port-dst', String(s.origPortDst))
  if (s.replySrc !== undefined) a.push('--reply-src', s.replySrc)
  if (s.replyDst !== undefined) a.push('--reply-dst', s.replyDst)
  if (s.replyPortDst !== undefined) a.push('--reply-port-dst', String(s.replyPortDst))
  return a
}

/**
 * Rechecks after the first, RECHECK_MS apart. A pass wins when the host process has nothing queued at
 * that instant (the client's next packet is then DNATed); under a flood each pass may lose, hence several.
 */
export const MAX_RECHECKS = 10
export const RECHECK_MS = 20

/**
 * Runs every delete, each spec's recheck right after it; a recheck whose port had entries (either delete
 * found some) runs again after RECHECK_MS while it keeps finding entries: the host process may still
 * answer packets queued before the first delete, each answer re-creating its entry. Once a client's
 * packet is DNATed, such an answer no longer can (its tuple is taken, so conntrack renumbers its port).
 */
export async function flushConntrack(specs: readonly FlushSpec[], log: Log): Promise<void> {
  if (specs.length === 0) return
  const exe = CANDIDATES.find((p) => existsSync(p))
  if (exe === undefined) {
    log.warn('conntrack tool not found (install the conntrack package): stale UDP/SCTP flows are left to time out')
    return
  }
  let pending: FlushSpec[] = []
  for (const s of specs) {
    const n = deleteEntries(exe, s, log)
    if (s.recheck !== undefined && deleteEntries(exe, s.recheck, log) + n > 0) pending.push(s.recheck)
  }
  for (let pass = 0; pass < MAX_RECHECKS && pending.length > 0; pass++) {
    await new Promise((r) => setTimeout(r, RECHECK_MS))
    pending = pending.filter((s) => deleteEntries(exe, s, log) > 0)
  }
  if (pending.length > 0) log.warn(`conntrack: entries from the host port kept coming back (${conntrackArgs(pending[0]!).join(' ')}); such a flow may stay on the host`)
}

/** One conntrack -D: the number of entries it deleted (0 when it failed, logged). */
function deleteEntries(exe: string, s: FlushSpec, log: Log): number {
  const r = spawnSync(exe, conntrackArgs(s), { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] })
  // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
  const m = /(\d+) flow entries have been deleted/.exec(r.stderr ?? '')
  if (m !== null) {
    if (m[1] !== '0') log.debug(`conntrack ${conntrackArgs(s).join(' ')}: ${m[1]} deleted`)
    return Number(m[1])
  }
  if (r.status === 0) return 0
  log.warn(`conntrack ${conntrackArgs(s).join(' ')} failed: ${(r.stderr ?? '').trim() || String(r.error ?? r.status)}`)
  return 0
}
