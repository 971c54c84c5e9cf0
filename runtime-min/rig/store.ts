// rig.json: what a rig is made of. Written atomically, and only under the rigs lock, so `ls`/`inspect`
// (which read without the lock) see the old file or the new one. A rig whose `up` is still running (or
// died) has state "creating"; `down` removes it all the same.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import * as z from 'zod/mini'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { FileLock, withLock } from '../../pkg/lock/lock.js'
import { CliError } from '../cli-error.js'
import { hostIndex, memberNetnsPath, memberRoot, RIGS_DIR, RIGS_LOCK, rigFile, SWITCH, validRigName } from './layout.js'

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
  /** IPv6 underlay address with prefix and alone, when the rig has --underlay6 */
  address6: z.optional(z.string()),
  ip6: z.optional(z.string()),
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
  /** the optional IPv6 underlay and the switch's IPv6 address */
  underlay6: z.optional(z.string()),
  gateway6: z.optional(z.string()),
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
  // `down` and `rm-host` remove what these paths name: they must be exactly the rig's own.
  const info = r.data
  const own = (m: RigMember) => m.netns === memberNetnsPath(name, m.name) && m.root === memberRoot(name, m.name) && (m.name === SWITCH || hostIndex(m.name) !== undefined)
  if (info.name !== name || info.switch.name !== SWITCH || ![info.switch, ...info.hosts].every(own)) {
    throw new CliError(`${rigFile(name)} names paths that are not rig ${name}'s`, `remove the rig with 'berth rig down ${name}'`)
  }
  return info
}

/** The rig or a clear "no such rig" error. */
export function requireRig(name: string): RigInfo {
  const info = readRig(name)
  if (info === undefined) throw new CliError(`no rig named ${JSON.stringify(name)}`, "see 'berth rig ls'")
  return info
}

/** A directory under /run/berth/rigs: the rig, or why its rig.json cannot be read (`down` still removes it). */
export type RigEntry = { readonly name: string; readonly info: RigInfo } | { readonly name: string; readonly damaged: string }

/** Every rig directory, by name. */
export function listRigEntries(): RigEntry[] {
  let names: string[]
  try {
    names = readdirSync(RIGS_DIR)
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return []
    throw e
  }
  const out: RigEntry[] = []
  for (const n of names.sort()) {
    if (n.startsWith('.')) continue
    try {
      const info = readRig(n)
      // A directory without rig.json is a rig being removed (or not one of ours): nothing to show.
      if (info !== undefined) out.push({ name: n, info })
    } catch (e) {
      out.push({ name: n, damaged: e instanceof Error ? e.message : String(e) })
    }
  }
  return out
}

/**
 * The state to show: "creating" while an `up` holds the rigs lock, "broken" when the `up` that wrote it
 * is gone (nobody holds the lock), else what rig.json says.
 */
export function shownState(info: RigInfo): 'ready' | 'creating' | 'broken' {
  if (info.state !== 'creating') return info.state
  const lock = FileLock.tryAcquire(RIGS_LOCK)
  if (lock === undefined) return 'creating'
  lock.release()
  return 'broken'
}

/** Every rig with readable metadata, by name. */
export function listRigs(): RigInfo[] {
  return listRigEntries().flatMap((e) => ('info' in e ? [e.info] : []))
}
