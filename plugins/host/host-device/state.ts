// What ADD records so DEL can give the device back as it was, one JSON file per attachment:
//   <stateDir>/<network>/<containerID>-<ifname>.json
// written atomically (temp file + rename) while holding <stateDir>/lock, which also serialises ADD and
// DEL of all networks so two containers cannot take the same device at once.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { errorCode } from '../../../pkg/errors/sys-error.js'
import { syncDirectory, writeFileAtomicSync } from '../../../pkg/fsutil/atomic-write.js'
import { safeJoin } from '../../../pkg/fsutil/safe-path.js'
import { withLock } from '../../../pkg/lock/lock.js'

export const STATE_VERSION = 1

/** The host device as it was before ADD. */
export interface SavedDevice {
  name: string
  index: number
  /** IFLA_INFO_KIND ("veth", "macvlan", ...); null for a physical device */
  kind: string | null
  mac: string | null
  mtu: number
  up: boolean
  /** addresses it had in the host, "10.1.2.3/24" (moving a link to another namespace drops them) */
  addresses: string[]
  /** its IFLA_IFALIAS before ADD (null: none); undefined: leave the alias alone on restore */
  alias?: string | null
}

export interface AttachmentState {
  version: typeof STATE_VERSION
  network: string
  containerId: string
  ifName: string
  netns: string
  /** null when the device is a DPDK function (nothing was moved) */
  device: SavedDevice | null
  createdAt: string
}

export interface StateKey {
  stateDir: string
  network: string
  containerId: string
  ifName: string
}

export function statePath(k: StateKey): string {
  return safeJoin(k.stateDir, [k.network, `${k.containerId}-${k.ifName}.json`], { what: 'network, container ID or interface name' })
}

/** Runs fn while holding the plugin-wide lock; creates the state directory (0700) if needed. */
export async function withStateLock<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  ensureDir(stateDir)
  return withLock(join(stateDir, 'lock'), fn)
}

export function writeState(k: StateKey, s: AttachmentState): void {
  const path = statePath(k)
  ensureDir(safeJoin(k.stateDir, k.network, { what: 'network name' }))
  writeFileAtomicSync(path, `${JSON.stringify(s, null, 2)}\n`)
}

/** The state of this attachment, or undefined when there is none. CniError 5 for an unreadable file. */
export function readState(k: StateKey): AttachmentState | undefined {
  const path = statePath(k)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined
    throw new CniError(CniCode.IoFailure, `failed to read host-device state ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  return decodeState(text, path)
}

export function removeState(k: StateKey): void {
  const path = statePath(k)
  rmSync(path, { force: true })
  try {
    syncDirectory(join(path, '..'))
  } catch {
    // the directory is gone too: nothing to make durable
  }
}

/** Every attachment recorded under stateDir (all networks); unreadable files are skipped. */
export function listStates(stateDir: string): AttachmentState[] {
  const out: AttachmentState[] = []
  for (const net of safeList(stateDir)) {
    for (const f of safeList(join(stateDir, net))) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue
      try {
        out.push(decodeState(readFileSync(join(stateDir, net, f), 'utf8'), f))
      } catch {
        // not ours or damaged: ignore
      }
    }
  }
  return out
}

export function decodeState(text: string, path: string): AttachmentState {
  const bad = (why: string) => new CniError(CniCode.IoFailure, `host-device state ${path} is damaged: ${why}`)
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw bad('not JSON')
  }
  const o = v as Partial<AttachmentState> | null
  if (o === null || typeof o !== 'object' || o.version !== STATE_VERSION) throw bad(`expected version ${STATE_VERSION}`)
  const d = o.device
  if (d !== null && (typeof d !== 'object' || typeof d.name !== 'string' || typeof d.mtu !== 'number' || !Array.isArray(d.addresses))) {
    throw bad('device record incomplete')
  }
  return o as AttachmentState
}

function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to create state directory ${dir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
