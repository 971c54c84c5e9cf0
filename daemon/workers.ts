// The daemon's worker threads: every call runs on one of them, never on the main thread, which only
// talks to the shims. A call blocks its thread in the kernel (a veth's deletion waits ~24 ms for the
// network's RCU grace period, an nftables transaction that deletes ~14 ms): spread over threads, those
// waits overlap as they do between separate plugin processes. A thread also runs calls of callers in
// another network namespace than the daemon's (a rig host, a test's "host"): setns(2) moves only the
// calling thread, so it enters that namespace and the call acts there. A thread serves one namespace at
// a time: a call goes to an idle thread, else to the least busy one already in its namespace, else to a
// new thread up to `max`; with none of these it is handed back to the shim. A thread goes home when its
// last call ends and exits after `idleMs` without work (one stays). The thread side is worker.ts.
import { Worker } from 'node:worker_threads'
import type { CallResult } from './call.js'
import { workerDataMark, type FromWorker, type ToWorker } from './worker.js'

export interface WorkersOptions {
  /** the file a worker thread runs: berth's launcher, whose entry serves when it sees workerDataMark */
  script: string
  /** threads at most (default 4) */
  max?: number
  /** an idle thread beyond the first exits after this long (default 60 s) */
  idleMs?: number
  log: (line: string) => void
}

/** How a call in a worker ended: run (whatever its result), refused before it ran, or lost with the thread. */
export type WorkerOutcome = { kind: 'done'; result: CallResult } | { kind: 'refused'; reason: string } | { kind: 'lost' }

interface Thread {
  worker: Worker
  /** the namespace (dev:ino) its calls run in; undefined when idle at home */
  ns: string | undefined
  pending: Map<number, (o: WorkerOutcome) => void>
  idle: NodeJS.Timeout | undefined
}

export class Workers {
  readonly #o: Required<WorkersOptions>
  readonly #threads = new Set<Thread>()
  #nextId = 1
  #served = 0
  #stopped = false

  constructor(o: WorkersOptions) {
    this.#o = { max: 4, idleMs: 60_000, ...o }
  }

  /** Starts the first thread now, so that the first call does not wait for one to load. */
  warm(): void {
    if (this.#threads.size === 0) this.#spawn()
  }

  status(): { running: number; busy: number; served: number } {
    let busy = 0
    for (const t of this.#threads) if (t.pending.size > 0) busy++
    return { running: this.#threads.size, busy, served: this.#served }
  }

  /** Runs a call in namespace `ns` of caller `pid`; undefined when no thread can take it now. */
  run(pid: number, ns: string, type: string, env: Record<string, string>, stdin: Uint8Array): Promise<WorkerOutcome> | undefined {
    if (this.#stopped) return undefined
    const t = this.#pick(ns)
    if (t === undefined) return undefined
    if (t.idle !== undefined) clearTimeout(t.idle)
    t.idle = undefined
    t.ns = ns
    const id = this.#nextId++
    this.#served++
    return new Promise((resolve) => {
      t.pending.set(id, resolve)
      t.worker.postMessage({ kind: 'call', id, pid, ns, type, env, stdin } satisfies ToWorker)
    })
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await Promise.all([...this.#threads].map((t) => t.worker.terminate()))
  }

  #pick(ns: string): Thread | undefined {
    let inNs: Thread | undefined
    let idle: Thread | undefined
    for (const t of this.#threads) {
      if (t.ns === ns && (inNs === undefined || t.pending.size < inNs.pending.size)) inNs = t
      if (t.ns === undefined && t.pending.size === 0) idle ??= t
    }
    if (inNs !== undefined && inNs.pending.size === 0) return inNs
    if (idle !== undefined) return idle
    if (this.#threads.size < this.#o.max) return this.#spawn()
    return inNs
  }

  #spawn(): Thread {
    const worker = new Worker(this.#o.script, { workerData: workerDataMark, argv: [] })
    worker.unref() // the daemon's server keeps the process alive, not an idle thread
    const t: Thread = { worker, ns: undefined, pending: new Map(), idle: undefined }
    this.#threads.add(t)
    worker.on('message', (m: FromWorker) => this.#settle(t, m))
    worker.on('error', (e) => this.#o.log(`berthd: a worker thread failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`))
    worker.on('exit', (code) => {
      this.#threads.delete(t)
      if (t.idle !== undefined) clearTimeout(t.idle)
      if (t.pending.size > 0) this.#o.log(`berthd: a worker thread exited (code ${code}) with ${t.pending.size} call(s) in flight`)
      for (const resolve of t.pending.values()) resolve({ kind: 'lost' })
      t.pending.clear()
    })
    return t
  }

  #settle(t: Thread, m: FromWorker): void {
    const resolve = t.pending.get(m.id)
    if (resolve === undefined) return
    t.pending.delete(m.id)
    resolve(m.kind === 'done' ? { kind: 'done', result: m.result } : { kind: 'refused', reason: m.reason })
    if (t.pending.size > 0) return
    // Home before any other namespace's call can be given to it, and the old namespace is no longer held.
    t.worker.postMessage({ kind: 'leave' } satisfies ToWorker)
    t.ns = undefined
    t.idle = setTimeout(() => {
      if (this.#threads.size > 1) void t.worker.terminate()
    }, this.#o.idleMs)
    t.idle.unref()
  }
}
