// The host ports containers publish in one network namespace, as the portmap plugin records them under
// /run/berth/portmap/<namespace key>/ (plugins/portmap/records.ts writes them, under its lock):
//   owners/<tag>.json                   an attachment's record, its `entries` the port ranges it publishes
//   ports/<family>-<proto>-<port>/<a>   a reservation of one port on address <a> ("any"), holding the tag
// The names are defined here so that the writer and its readers share them. A runtime reads them, without
// the lock, to choose a free host port before ADD; ADD still decides under the lock.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { errorCode } from '../errors/sys-error.js'
import { netnsFileKey } from '../ns/netns.js'

export const PORTMAP_STATE_ROOT = '/run/berth/portmap'
export const OWNERS_DIR = 'owners'
export const PORTS_DIR = 'ports'
export const portDirName = (family: 4 | 6, protocol: string, port: number): string => `${family}-${protocol}-${port}`
export const ownerFileName = (tag: string): string => `${tag}.json`
/** An owner tag is 16 hex digits; anything else is not a name portmap made. */
export const OWNER_TAG = /^[0-9a-f]{16}$/

/** One published range of an owner's record, as far as a reader needs it. */
export interface PublishedRange {
  family: 4 | 6
  /** undefined: every local address of the family */
  hostIP?: string | undefined
  protocol: string
  hostPort: number
  hostPortEnd: number
}

export interface ReservationQuery {
  family: 4 | 6
  protocol: string
  /** undefined: any address, so every reservation of the port counts */
  hostIP?: string | undefined
}

export interface ReadOptions {
  root?: string
  /** the namespace whose records to read (default: the calling thread's) */
  nsPath?: string
}

/**
 * Whether a live record publishes `port` for the query. A reservation whose record is gone, unreadable or
 * no longer holds the port does not count (portmap removes such leftovers under its lock).
 */
export function portPublished(q: ReservationQuery, port: number, opts: ReadOptions = {}): boolean {
  const dir = join(opts.root ?? PORTMAP_STATE_ROOT, netnsFileKey(opts.nsPath ?? '/proc/thread-self/ns/net'))
  const portDir = join(dir, PORTS_DIR, portDirName(q.family, q.protocol, port))
  for (const addr of names(portDir)) {
    if (q.hostIP !== undefined && addr !== 'any' && addr !== q.hostIP) continue
    const tag = text(join(portDir, addr))?.trim() ?? ''
    if (!OWNER_TAG.test(tag)) continue
    const entries = ownerEntries(text(join(dir, OWNERS_DIR, ownerFileName(tag))))
    const held = entries.some((e) => e.family === q.family && e.protocol === q.protocol && e.hostPort <= port && port <= e.hostPortEnd && (e.hostIP ?? 'any') === addr)
    if (held) return true
  }
  return false
}

function ownerEntries(json: string | undefined): PublishedRange[] {
  if (json === undefined) return []
  try {
    const r = JSON.parse(json) as { entries?: unknown }
    return Array.isArray(r.entries) ? (r.entries as PublishedRange[]) : []
  } catch {
    return [] // torn or foreign: as if missing
  }
}

function text(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined
    throw e
  }
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return []
    throw e
  }
}
