// The thread side of a daemon worker (daemon/workers.ts has the daemon's side). setns(2) with
// CLONE_NEWNET moves only the calling thread, so this thread enters the caller's network namespace and runs
// its calls there: every netlink socket, nft context, /proc/thread-self path and child process the plugin
// makes is the caller's, as if the plugin's own process ran in it. Between assignments it goes home, so it
// never keeps a deleted namespace (and its links) alive.
import { closeSync, fstatSync, openSync, constants as fsc } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { native } from '../native/index.js'
import { CLONE_NEWNET } from '../native/binding.js'
import { restoreOrDie } from '../pkg/ns/netns.js'
import { callPlugin, type CallResult } from './call.js'
import { servedPlugins } from './plugins.js'

const MARK = 'berthNetnsWorker'

/** What the daemon sends: a call to run in namespace `ns` (dev:ino of the caller `pid`'s), or "go home". */
export type ToWorker =
  | { kind: 'call'; id: number; pid: number; ns: string; type: string; env: Record<string, string>; stdin: Uint8Array }
  | { kind: 'leave' }

/** What the thread answers per call: its result, or why it could not run it (the shim then runs it). */
export type FromWorker = { kind: 'done'; id: number; result: CallResult } | { kind: 'refused'; id: number; reason: string }

export const workerDataMark = { [MARK]: true }

/** True in a thread started with workerDataMark: the bundle's entry then serves instead of parsing argv. */
export function isNetnsWorker(): boolean {
  return parentPort !== null && (workerData as Record<string, unknown> | undefined)?.[MARK] === true
}

export function serveNetnsWorker(): void {
  const port = parentPort
  if (port === null) throw new Error('serveNetnsWorker runs only in a worker thread')
  // stdout is the daemon's, never an answer; a verb that throws outside its promise chain must not end the thread.
  console.log = console.error
  console.info = console.error
  process.on('uncaughtException', (e) => process.stderr.write(`berthd worker thread: uncaught exception (serving on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`))
  process.on('unhandledRejection', (e) => process.stderr.write(`berthd worker thread: unhandled rejection (serving on): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`))
  const plugins = servedPlugins()
  const home = openSync('/proc/thread-self/ns/net', fsc.O_RDONLY)
  let inside: string | undefined
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'leave') {
      if (inside !== undefined) restoreOrDie(home)
      inside = undefined
      return
    }
    const load = plugins.get(m.type)
    const refused = load === undefined ? `unknown type ${m.type}` : inside === m.ns ? undefined : enter(m.pid, m.ns)
    if (refused !== undefined || load === undefined) return port.postMessage({ kind: 'refused', id: m.id, reason: refused ?? 'no plugin' } satisfies FromWorker)
    inside = m.ns
    void callPlugin(load, m.env, m.stdin).then((result) => port.postMessage({ kind: 'done', id: m.id, result } satisfies FromWorker))
  })
}

/** Enters the caller's namespace, checking it is still the one the daemon saw (the pid may be gone). */
function enter(pid: number, ns: string): string | undefined {
  let fd: number
  try {
    fd = openSync(`/proc/${pid}/ns/net`, fsc.O_RDONLY)
  } catch {
    return 'caller gone'
  }
  try {
    const st = fstatSync(fd)
    if (`${st.dev}:${st.ino}` !== ns) return 'caller gone'
    native().setns(fd, CLONE_NEWNET)
    return undefined
  } catch (e) {
    return `cannot enter the caller's network namespace: ${e instanceof Error ? e.message : String(e)}`
  } finally {
    closeSync(fd)
  }
}
