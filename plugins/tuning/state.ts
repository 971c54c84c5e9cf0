// What ADD changed, saved before it changes anything, so DEL can put it back.
//
// One file per attachment, <dataDir>/<containerID>_<ifname>.json, as the reference names it, holding the
// reference's fields (mac, promisc, mtu, allmulti, txQLen: the ORIGINAL values of what was changed) plus
// berth's: the original sysctl values and the owner (network, container, ifname) that GC matches.
// Either implementation can restore the other's file. Written atomically (temp file, fsync, rename).
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import * as z from 'zod/mini'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'

export interface TuningState {
  mac?: string
  promisc?: boolean
  mtu?: number
  allmulti?: boolean
  txQLen?: number
  /** sysctl key → value before ADD */
  sysctl?: Record<string, string>
  owner?: { network: string; containerID: string; ifName: string }
}

const opt = z.optional
const StateSchema = z.looseObject({
  mac: opt(z.string()),
  promisc: opt(z.boolean()),
  mtu: opt(z.int()),
  allmulti: opt(z.boolean()),
  txQLen: opt(z.int()),
  sysctl: opt(z.record(z.string(), z.string())),
  owner: opt(z.object({ network: z.string(), containerID: z.string(), ifName: z.string() })),
})

export function statePath(dataDir: string, containerId: string, ifName: string): string {
  return safeJoin(dataDir, `${containerId}_${ifName}.json`, { code: CniCode.InvalidEnv, what: 'container ID and interface name' })
}

/** The saved state, or undefined when there is none. A file that cannot be parsed is an error naming it. */
export function readState(path: string): TuningState | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined
    throw new CniError(CniCode.IoFailure, `failed to read ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new CniError(CniCode.DecodingFailure, `failed to parse tuning state ${path}: ${e instanceof Error ? e.message : String(e)}`)
  }
  const r = z.safeParse(StateSchema, value)
  if (!r.success) throw new CniError(CniCode.DecodingFailure, `failed to parse tuning state ${path}: unexpected content`)
  const s = r.data
  const out: TuningState = {}
  if (s.mac !== undefined && s.mac !== '') out.mac = s.mac
  if (s.promisc !== undefined) out.promisc = s.promisc
  if (s.mtu !== undefined && s.mtu !== 0) out.mtu = s.mtu
  if (s.allmulti !== undefined) out.allmulti = s.allmulti
  if (s.txQLen !== undefined) out.txQLen = s.txQLen
  if (s.sysctl !== undefined) out.sysctl = s.sysctl
  if (s.owner !== undefined) out.owner = s.owner
  return out
}

export function writeState(dataDir: string, path: string, state: TuningState): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to create ${dataDir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  writeFileAtomicSync(path, JSON.stringify(state, null, 1) + '\n')
}

export function removeState(path: string): void {
  try {
    rmSync(path, { force: true })
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to remove ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
}

/** Every state file in dataDir with its owner (files without one, e.g. the reference's, are skipped). */
export function listStates(dataDir: string): { path: string; owner: NonNullable<TuningState['owner']> }[] {
  let names: string[]
  try {
    names = readdirSync(dataDir)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return []
    throw new CniError(CniCode.IoFailure, `failed to list ${dataDir}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  const out: { path: string; owner: NonNullable<TuningState['owner']> }[] = []
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue
    const path = safeJoin(dataDir, n)
    try {
      const s = readState(path)
      if (s?.owner !== undefined) out.push({ path, owner: s.owner })
    } catch {
      // Not ours to judge: leave unreadable files alone.
    }
  }
  return out
}
