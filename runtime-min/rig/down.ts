// `berth rig down`: removes everything a rig made, also when `up` died halfway or `down` already ran.
//
// 1. Every process whose network namespace is one of the rig's (its hosts, its switch, or a container
//    namespace persisted under a host's BERTH_ROOT) gets SIGTERM, then SIGKILL if it lingers: containers,
//    `berth run` supervisors, agents and test servers started with `rig exec`.
// 2. Every mount under the rig's directory (persisted container namespaces) is detached.
// 3. The switch and host namespaces are unmounted and removed: their links, routes and firewall rules go
//    with them. Namespace names "R.switch" and "R.hostK" belong to rig R by construction (rig names have
//    no '.'), so leftovers with those names are removed even when rig.json is missing or damaged.
// 4. /run/berth/rigs/R is removed.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe } from '../../pkg/errors/describe.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { createLog } from '../../pkg/log/log.js'
import { deleteNetns } from '../../pkg/ns/netns.js'
import { CliError } from '../cli-error.js'
import { beforeHostDown } from './drivers.js'
import { memberNetnsName, RIG_NETNS_DIR, rigDir, validRigName } from './layout.js'
import { readRig, withRigsLock, type RigInfo } from './store.js'

const log = createLog('berth rig')
const TERM_GRACE_MS = 3000
const KILL_GRACE_MS = 3000

export interface RigDownResult {
  /** false when there was nothing left of the rig */
  readonly removed: boolean
  /** processes that were signalled */
  readonly killed: number
}

export function rigDown(name: string): Promise<RigDownResult> {
  validRigName(name)
  return withRigsLock(async () => {
    let info: RigInfo | undefined
    try {
      info = readRig(name)
    } catch (e) {
      log.warn(`${describe(e)}; removing what is there`)
    }
    if (info !== undefined) {
      for (const host of info.hosts) {
        try {
          await beforeHostDown({ rig: info, host })
        } catch (e) {
          log.warn(`${name}/${host.name}: driver clean-up failed: ${describe(e)}`)
        }
      }
    }
    const dir = rigDir(name)
    const namespaces = rigNamespaces(name, info)
    const mounts = mountsUnder(dir)
    const removed = info !== undefined || namespaces.length > 0 || mounts.length > 0 || existsDir(dir)

    const killed = await killProcessesIn([...namespaces, ...mounts])
    const failures: string[] = []
    const attempt = (what: string, fn: () => void) => {
      try {
        fn()
      } catch (e) {
        failures.push(`${what}: ${describe(e)}`)
      }
    }
    // Deepest first, so a mount inside another mount goes before its parent.
    for (const m of mounts.sort((a, b) => b.length - a.length)) attempt(`detach ${m}`, () => deleteNetnsOrDir(m))
    for (const ns of namespaces) attempt(`delete namespace ${ns}`, () => deleteNetns(ns))
    attempt(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
    if (failures.length > 0) {
      throw new CliError(`rig down ${name} left something behind: ${failures.join('; ')}`, `run 'berth rig down ${name}' again`)
    }
    return { removed, killed }
  })
}

/** The rig's namespace files: those in rig.json plus any "R.switch"/"R.hostK" left in /run/netns. */
function rigNamespaces(name: string, info: RigInfo | undefined): string[] {
  const out = new Set<string>()
  if (info !== undefined) for (const m of [info.switch, ...info.hosts]) out.add(m.netns)
  const ours = new RegExp(`^${name.replace(/[-]/g, '\\-')}\\.(switch|host[1-9][0-9]*)$`)
  let entries: string[] = []
  try {
    entries = readdirSync(RIG_NETNS_DIR)
  } catch (e) {
    if (errorCode(e) !== 'ENOENT') throw e
  }
  for (const e of entries) if (ours.test(e)) out.add(`${RIG_NETNS_DIR}/${e}`)
  // Only names that are still there: a second `down` finds nothing to do.
  return [...out].filter((p) => existsPath(p) && p.startsWith(`${RIG_NETNS_DIR}/${memberNetnsName(name, '')}`))
}

/** Mount points strictly under `dir`, from this process's mount table (octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  const out: string[] = []
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4]
    if (field === undefined) continue
    const mp = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (mp.startsWith(prefix)) out.push(mp)
  }
  return [...new Set(out)]
}

function deleteNetnsOrDir(path: string): void {
  // deleteNetns detaches the mount and removes a file; a directory mount point is removed with the rig dir.
  try {
    deleteNetns(path)
  } catch (e) {
    if (errorCode(e) !== 'EISDIR' && errorCode(e) !== 'ERR_FS_EISDIR') throw e
  }
}

const nsId = (path: string): string | undefined => {
  try {
    const st = statSync(path)
    return `${st.dev}:${st.ino}`
  } catch {
    return undefined
  }
}

/** Pids (not ours) whose network namespace is one of `ids`, zombies excluded. */
function processesIn(ids: ReadonlySet<string>): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue
    const pid = Number(e)
    if (pid === process.pid) continue
    const id = nsId(`/proc/${e}/ns/net`)
    if (id !== undefined && ids.has(id) && alive(pid)) out.push(pid)
  }
  return out
}

/** Running or sleeping: /proc/PID exists and it is not a zombie waiting for its parent. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig)
    } catch (e) {
      if (errorCode(e) !== 'ESRCH') throw e
    }
  }
}

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  let left = pids.filter(alive)
  for (let delay = 5; left.length > 0 && Date.now() < deadline; delay = Math.min(delay * 2, 100)) {
    await sleep(delay)
    left = left.filter(alive)
  }
  return left
}

/** SIGTERM, then SIGKILL, every process in the namespaces; rescans for processes forked meanwhile. */
async function killProcessesIn(paths: readonly string[]): Promise<number> {
  const ids = new Set(paths.map(nsId).filter((x): x is string => x !== undefined))
  if (ids.size === 0) return 0
  const seen = new Set<number>()
  for (let round = 0; round < 5; round++) {
    const pids = processesIn(ids)
    if (pids.length === 0) break
    for (const p of pids) seen.add(p)
    signal(pids, round === 0 ? 'SIGTERM' : 'SIGKILL')
    const left = await waitGone(pids, round === 0 ? TERM_GRACE_MS : KILL_GRACE_MS)
    if (left.length > 0 && round > 0) log.warn(`processes ${left.join(', ')} survive SIGKILL`)
  }
  return seen.size
}

function existsPath(p: string): boolean {
  try {
    statSync(p)
    return true
  } catch {
    return false
  }
}

function existsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}
