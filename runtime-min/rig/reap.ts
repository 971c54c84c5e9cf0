// Taking rig members apart: the processes living in their namespaces, the namespace mounts under their
// root directories, then the namespaces themselves. Shared by `rig down` and `rig rm-host`.
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe } from '../../pkg/errors/describe.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { createLog } from '../../pkg/log/log.js'
import { deleteNetns } from '../../pkg/ns/netns.js'

const log = createLog('berth rig')
const TERM_GRACE_MS = 3000
const KILL_GRACE_MS = 3000

export interface ReapResult {
  /** processes that were signalled */
  readonly killed: number
  /** what could not be removed, one line each */
  readonly failures: string[]
}

/**
 * Removes what lives in `namespaces` (persisted netns files) and under `dirs`: SIGTERM then SIGKILL to
 * every process in those namespaces or in a namespace mounted under the dirs, the mounts detached
 * (deepest first), the namespaces deleted and the dirs removed. Best effort: failures are collected.
 */
export async function reap(namespaces: readonly string[], dirs: readonly string[]): Promise<ReapResult> {
  const mounts = dirs.flatMap(mountsUnder)
  const killed = await killProcessesIn([...namespaces, ...mounts])
  const failures: string[] = []
  const attempt = (what: string, fn: () => void) => {
    try {
      fn()
    } catch (e) {
      failures.push(`${what}: ${describe(e)}`)
    }
  }
  for (const m of [...new Set(mounts)].sort((a, b) => b.length - a.length)) attempt(`detach ${m}`, () => deleteNetnsOrDir(m))
  for (const ns of namespaces) attempt(`delete namespace ${ns}`, () => deleteNetns(ns))
  for (const d of dirs) attempt(`remove ${d}`, () => rmSync(d, { recursive: true, force: true }))
  return { killed, failures }
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

/** An open fd of each path that is a file (namespace files are; an open one pins its namespace). */
function openFiles(paths: readonly string[]): number[] {
  const fds: number[] = []
  for (const p of paths) {
    try {
      if (statSync(p).isFile()) fds.push(openSync(p, 'r'))
    } catch {
      // gone meanwhile: nothing of it to kill
    }
  }
  return fds
}

const fdId = (fd: number): string => {
  const st = fstatSync(fd)
  return `${st.dev}:${st.ino}`
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
  // Held open until the last rescan: a container's supervisor, on SIGTERM, unmounts its namespace, and
  // a freed namespace's inode number goes to the next one made anywhere, whose processes we would kill.
  const fds = openFiles(paths)
  try {
    const ids = new Set(fds.map(fdId))
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
  } finally {
    for (const fd of fds) closeSync(fd)
  }
}
