// rig.json: what a rig is made of. Written atomically, and only under the rigs lock, so `ls`/`inspect`
// (which read without the lock) see the old file or the new one. A rig whose `up` is still running (or
// died) has state "creating"; `down` removes it all the same.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import * as z from 'zod/mini'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { withLock } from '../../pkg/lock/lock.js'
import { CliError } from '../cli-error.js'
import { RIGS_DIR, RIGS_LOCK, rigFile, validRigName } from './layout.js'

export const DRIVERS = ['bridge', 'vxlan'] as const
export type RigDriver = (typeof DRIVERS)[number]

const MemberSchema = z.object({
  /** "switch" or "hostK" */
  name: z.string(),
  /** the persisted namespace, /run/netns/R.hostK */
  netns: z.string(),
  /** underlay address with prefix, "10.200.0.2/24" */
  address: z.string(),
  /** the address alone */
  ip: z.string(),
  /** BERTH_ROOT of this member */
  root: z.string(),
  /** underlay interface: eth0 in a host, the bridge in the switch */
  interface: z.string(),
})
export type RigMember = z.infer<typeof MemberSchema>

const RigSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  state: z.enum(['creating', 'ready']),
  driver: z.enum(DRIVERS),
  underlay: z.string(),
  /** the hosts' default gateway (the switch's address) */
  gateway: z.string(),
  createdAt: z.string(),
  switch: MemberSchema,
  hosts: z.array(MemberSchema),
})
export type RigInfo = z.infer<typeof RigSchema>

/** Runs `fn` holding the machine-wide rigs lock (creating /run/berth/rigs if needed). */
export function withRigsLock<T>(fn: () => T | Promise<T>): Promise<T> {
  mkdirSync(RIGS_DIR, { recursive: true, mode: 0o755 })
  return withLock(RIGS_LOCK, fn)
}

export function writeRig(info: RigInfo): void {
  writeFileAtomicSync(rigFile(info.name), JSON.stringify(info, null, 2) + '\n', { mode: 0o644 })
}

/** The rig's metadata, or undefined when it has none (never made, or already removed). */
export function readRig(name: string): RigInfo | undefined {
  let text: string
  try {
    text = readFileSync(rigFile(validRigName(name)), 'utf8')
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined
    throw e
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new CliError(`${rigFile(name)} is not valid JSON`, `remove the rig with 'berth rig down ${name}'`)
  }
  const r = RigSchema.safeParse(json)
  if (!r.success) throw new CliError(`${rigFile(name)} is not a berth rig description`, `remove the rig with 'berth rig down ${name}'`)
  return r.data
}

/** The rig or a clear "no such rig" error. */
export function requireRig(name: string): RigInfo {
  const info = readRig(name)
  if (info === undefined) throw new CliError(`no rig named ${JSON.stringify(name)}`, "see 'berth rig ls'")
  return info
}

/** Every rig with metadata, by name; a directory with a damaged rig.json is skipped. */
export function listRigs(): RigInfo[] {
  let names: string[]
  try {
    names = readdirSync(RIGS_DIR)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return []
    throw e
  }
  const out: RigInfo[] = []
  for (const n of names.sort()) {
    if (n.startsWith('.')) continue
    try {
      const info = readRig(n)
      if (info !== undefined) out.push(info)
    } catch {
      // not a rig directory (or damaged): `down NAME` still removes it
    }
  }
  return out
}
