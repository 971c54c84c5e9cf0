// Reading /proc for the processes berth starts: a PID is only "ours" while its start time matches the
// one recorded (PIDs are reused), and a zombie counts as gone.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ProcessRef } from './state.js'

interface Stat {
  state: string
  ppid: number
  start: number
}

function readStat(pid: number): Stat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0] ?? ''
  const ppid = Number(fields[1])
  const start = Number(fields[19])
  return Number.isFinite(start) ? { state, ppid, start } : undefined
}

/** The reference for a live PID, or undefined when it is gone. */
export function processRef(pid: number): ProcessRef | undefined {
  const s = readStat(pid)
  return s === undefined || s.state === 'Z' || s.state === 'X' ? undefined : { pid, start: s.start }
}

/** Whether the process recorded in `ref` still runs (same PID, same start time, not a zombie). */
export function isAlive(ref: ProcessRef | undefined): boolean {
  if (ref === undefined) return false
  const s = readStat(ref.pid)
  return s !== undefined && s.start === ref.start && s.state !== 'Z' && s.state !== 'X'
}

/** Direct children of `pid` (from /proc/PID/task/PID/children). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number)
  } catch {
    return []
  }
}

/** Sends `signal` to the recorded process if it is still that process; false when it is gone. */
export function signalProcess(ref: ProcessRef | undefined, signal: NodeJS.Signals): boolean {
  if (!isAlive(ref) || ref === undefined) return false
  try {
    process.kill(ref.pid, signal)
    return true
  } catch {
    return false
  }
}

/**
 * Kills the container: SIGKILL to its launcher first (unshare --kill-child passes the KILL on to the
 * init, and the launcher's own death by SIGKILL gives the supervisor a true 137; killing only the init
 * makes util-linux 2.38 unshare exit 1 with "sigprocmask unblock failed"), then to the init itself.
 */
export function killContainer(s: { init?: ProcessRef | undefined; launcher?: ProcessRef | undefined }): void {
  signalProcess(s.launcher, 'SIGKILL')
  signalProcess(s.init, 'SIGKILL')
}

/** Polls until `cond` holds or `ms` pass; returns whether it held. */
export async function waitUntil(cond: () => boolean, ms: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (cond()) return true
    if (Date.now() >= end) return false
    await sleep(stepMs)
  }
}

/**
 * PIDs of the processes inside the namespace bound at `nsFile` (kind "uts", "net", ...): the namespace's
 * inode is the bind mount's, and /proc/PID/ns/KIND reads "KIND:[INODE]". Empty when the file is gone.
 */
export function processesInNamespace(nsFile: string, kind: string): number[] {
  let ino: number
  try {
    ino = statSync(nsFile).ino
  } catch {
    return []
  }
  const want = `${kind}:[${ino}]`
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue
    try {
      if (readlinkSync(`/proc/${d}/ns/${kind}`) === want) out.push(Number(d))
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out
}
