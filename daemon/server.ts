// berth daemon: one Node process that serves the shims' CNI calls in-process (daemon/PROTOCOL.md).
// Each call runs through the same skeleton as the executable, with the caller's environment and stdin, its
// log lines captured as its stderr. The disk stays the only truth: the daemon keeps no state between
// calls beyond counters, so a restart loses nothing.
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { getHeapSpaceStatistics } from 'node:v8'
import { native } from '../native/index.js'
import type { PluginDef } from '../pkg/skel/plugin.js'
import { callPlugin, type CallResult } from './call.js'
import { Metrics, type DaemonStatus } from './metrics.js'
import { Workers } from './workers.js'
import {
  decodeControl,
  decodeHello,
  decodeRequest,
  decodeResponse,
  encodeControl,
  encodeHello,
  encodeResponse,
  envObject,
  MAX_BODY,
  ProtocolError,
  requestBodyLength,
  requestKind,
  type Request,
  type Response,
} from './protocol.js'
import { KeyedSerializer, Slots } from './scheduling.js'

export const DEFAULT_SOCKET = '/run/berth/berthd.sock'

export interface DaemonOptions {
  socketPath: string
  build: string
  version: string
  plugins: Map<string, () => Promise<PluginDef>>
  /** calls running at once; the rest wait (default 64) */
  maxInFlight?: number
  /** how long a call may wait for a slot (default 30 s) */
  queueDeadlineMs?: number
  /** how long a client may take to send its whole request (default 10 s) */
  requestDeadlineMs?: number
  /** a listening socket inherited from systemd (LISTEN_FDS) instead of making one */
  listenFd?: number
  /**
   * The script a worker thread runs (berth's launcher): calls then run on worker threads (daemon/workers.ts),
   * callers in other network namespaces included. Without it calls run on the main thread, and callers in
   * another network namespace are handed back to their shim.
   */
  workerScript?: string
  /** worker threads at most (default 4) */
  maxWorkers?: number
  /** one line per call and per event */
  log: (line: string) => void
}

interface Peer {
  pid: number
  uid: number
}

export class Daemon {
  readonly #o: Required<Omit<DaemonOptions, 'listenFd' | 'workerScript' | 'maxWorkers'>> & { listenFd: number | undefined }
  readonly #metrics = new Metrics()
  readonly #slots: Slots
  readonly #serial = new KeyedSerializer()
  readonly #connections = new Set<Socket>()
  readonly #running = new Set<Promise<unknown>>()
  #server: Server | undefined
  #stopping = false
  readonly #workers: Workers | undefined
  #ownNs: { net: string; mnt: string } | undefined

  constructor(opts: DaemonOptions) {
    const { workerScript, maxWorkers, ...rest } = opts
    this.#o = { maxInFlight: 64, queueDeadlineMs: 30_000, requestDeadlineMs: 10_000, ...rest, listenFd: opts.listenFd }
    this.#slots = new Slots(this.#o.maxInFlight)
    if (workerScript !== undefined) this.#workers = new Workers({ script: workerScript, log: opts.log, ...(maxWorkers !== undefined ? { max: maxWorkers } : {}) })
  }

  async start(): Promise<void> {
    this.#ownNs = { net: nsId('/proc/self/ns/net'), mnt: nsId('/proc/self/ns/mnt') }
    this.#workers?.warm()
    const server = createServer({ allowHalfOpen: true }, (s) => this.#accept(s))
    this.#server = server
    if (this.#o.listenFd !== undefined) {
      await listen(server, { fd: this.#o.listenFd })
      return
    }
    await prepareSocketPath(this.#o.socketPath)
    await listen(server, { path: this.#o.socketPath })
    chmodSync(this.#o.socketPath, 0o600)
  }

  /** Stops accepting, lets the calls in flight finish (at most `graceMs`), then closes what is left. */
  async stop(graceMs = 4500): Promise<void> {
    this.#stopping = true
    const server = this.#server
    if (server !== undefined) {
      server.close()
      if (this.#o.listenFd === undefined) removeSocket(this.#o.socketPath)
    }
    const all = Promise.allSettled([...this.#running])
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())])
    for (const c of this.#connections) c.destroy()
    await this.#workers?.stop()
  }

  status(): DaemonStatus {
    return this.#metrics.status({
      pid: process.pid,
      build: this.#o.build,
      version: this.#o.version,
      socket: this.#o.listenFd === undefined ? this.#o.socketPath : `fd ${this.#o.listenFd}`,
      in_flight: this.#slots.inUse,
      queued: this.#slots.waiting,
      max_in_flight: this.#o.maxInFlight,
      workers: this.#workers?.status() ?? { running: 0, busy: 0, served: 0 },
    })
  }

  #accept(sock: Socket): void {
    this.#connections.add(sock)
    sock.on('close', () => this.#connections.delete(sock))
    sock.on('error', () => sock.destroy())
    let peer: Peer
    try {
      peer = native().peerCred((sock as unknown as { _handle: { fd: number } })._handle.fd)
    } catch (e) {
      this.#o.log(`berthd: cannot identify a caller: ${String(e)}`)
      sock.destroy()
      return
    }
    // Only root may ask for network changes; anyone else gets no HELLO, and their shim runs on its own.
    if (peer.uid !== 0) {
      this.#metrics.fallback('caller not root')
      sock.destroy()
      return
    }
    sock.write(encodeHello(this.#o.build))
    const deadline = setTimeout(() => sock.destroy(), this.#o.requestDeadlineMs)
    // Chunks are joined only when a header or the whole announced request can be read, not per chunk.
    const chunks: Buffer[] = []
    let total = 0
    let need = 8
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      total += chunk.length
      if (total < need) return
      const buf = chunks.length === 1 ? chunk : Buffer.concat(chunks)
      chunks.length = 0
      chunks.push(buf)
      try {
        if (requestKind(buf) === 'control') {
          const cmd = decodeControl(buf)
          if (cmd === undefined) return void (need = total + 1)
          done()
          this.#answer(sock, { kind: 'result', exit: 0, stdout: Buffer.from(this.#control(cmd)), stderr: Buffer.alloc(0) })
          return
        }
        const length = requestBodyLength(buf) ?? 0
        if (length > MAX_BODY) {
          done()
          this.#metrics.fallback('request too large')
          this.#answer(sock, { kind: 'fallback', reason: `request of ${length} bytes is over the daemon's limit of ${MAX_BODY}` })
          return
        }
        need = 8 + length
        const req = decodeRequest(buf)
        if (req === undefined) return
        done()
        this.#track(this.#serve(sock, req, peer))
      } catch (e) {
        done()
        this.#o.log(`berthd: malformed request from pid ${peer.pid}: ${e instanceof ProtocolError ? e.message : String(e)}`)
        sock.destroy()
      }
    }
    const done = () => {
      clearTimeout(deadline)
      sock.off('data', onData)
    }
    sock.on('data', onData)
  }

  #track(p: Promise<unknown>): void {
    this.#running.add(p)
    void p.finally(() => this.#running.delete(p))
  }

  #answer(sock: Socket, r: Response): void {
    if (!sock.destroyed) sock.end(encodeResponse(r))
  }

  #control(cmd: string): string {
    if (cmd === 'gc') {
      // A debugging aid for memory measurements (bench/daemon-memory.ts): a full collection first, so the
      // status shows what is retained, not what the collector has yet to reach. Only with --expose-gc.
      const gc = (globalThis as { gc?: () => void }).gc
      if (gc === undefined) return `${JSON.stringify({ error: 'gc needs a daemon started with NODE_OPTIONS=--expose-gc' })}\n`
      gc()
      // What each V8 space holds and keeps committed: RSS that the live heap does not explain.
      const spaces = getHeapSpaceStatistics().map((s) => ({ space: s.space_name, used_bytes: s.space_used_size, committed_bytes: s.physical_space_size }))
      return `${JSON.stringify({ ...this.status(), v8_spaces: spaces })}\n`
    }
    const st = this.status()
    if (cmd === 'status') return `${JSON.stringify(st)}\n`
    if (cmd === 'metrics') return this.#metrics.prometheus(st)
    return `${JSON.stringify({ error: `unknown control command ${JSON.stringify(cmd)}` })}\n`
  }

  prometheus(): string {
    return this.#metrics.prometheus(this.status())
  }

  async #serve(sock: Socket, req: Request, peer: Peer): Promise<void> {
    const env = envObject(req.env)
    const verb = env['CNI_COMMAND'] ?? ''
    const fallback = (reason: string) => {
      this.#metrics.fallback(reason)
      this.#answer(sock, { kind: 'fallback', reason })
    }
    const load = this.#o.plugins.get(req.type)
    if (load === undefined) return fallback(`unknown type ${req.type}`)
    if (this.#stopping) return fallback('daemon stopping')
    // A plugin a served call exec'd (a delegate behind a wrapper, another build's IPAM) would wait in this
    // daemon behind the very call that waits for it (same attachment, or every slot taken): it runs alone.
    if (descendsFrom(peer.pid, process.pid)) return fallback('called by a call this daemon is serving')
    const place = this.#callerPlace(peer.pid)
    if (typeof place === 'object') return fallback(place.fallback)

    const started = performance.now()
    const slot = await this.#slots.acquire(this.#o.queueDeadlineMs)
    if (slot === undefined) {
      // ADD may be retried by the runtime; anything else must still happen, so it runs on its own.
      if (verb !== 'ADD') return fallback('queue full')
      return this.#finish(sock, req.type, verb, env, started, tryAgainLater(`berth daemon busy: no slot free within ${this.#o.queueDeadlineMs} ms; try again later`))
    }
    try {
      const key = `${place}\0${netName(req.stdin)}\0${env['CNI_CONTAINERID'] ?? ''}\0${env['CNI_IFNAME'] ?? ''}`
      const out = await this.#serial.run(key, () =>
        this.#workers === undefined ? callPlugin(load, env, req.stdin) : this.#inWorker(peer.pid, place, req.type, verb, env, req.stdin),
      )
      if ('fallback' in out) return fallback(out.fallback)
      this.#finish(sock, req.type, verb, env, started, out)
    } finally {
      slot()
    }
  }

  /**
   * The caller's network namespace (dev:ino) when this daemon can act for it: its own, or another one that a
   * worker thread can enter. Otherwise why not: another mount namespace sees other files (/run/netns,
   * state directories, CNI_PATH), so only a process of its own acts correctly there.
   */
  #callerPlace(pid: number): string | { fallback: string } {
    let net: string
    try {
      if (nsId(`/proc/${pid}/ns/mnt`) !== this.#ownNs?.mnt) return { fallback: 'caller in another mount namespace' }
      net = nsId(`/proc/${pid}/ns/net`)
    } catch {
      return { fallback: 'caller gone or not inspectable' }
    }
    if (net !== this.#ownNs.net && this.#workers === undefined) return { fallback: 'caller in another network namespace' }
    return net
  }

  async #inWorker(pid: number, ns: string, type: string, verb: string, env: Record<string, string>, stdin: Buffer): Promise<CallResult | { fallback: string }> {
    const outcome = await this.#workers?.run(pid, ns, type, env, stdin)
    if (outcome === undefined) return { fallback: 'every worker thread busy in other namespaces' }
    if (outcome.kind === 'done') return outcome.result
    if (outcome.kind === 'refused') return { fallback: outcome.reason }
    // As when the whole daemon dies mid-call: DEL and the others must still happen; ADD is tried again later.
    if (verb !== 'ADD') return { fallback: 'worker thread lost' }
    return tryAgainLater(`the berth daemon's worker thread stopped during ${type} ADD; try again later (the runtime's DEL cleans up what this ADD may have left)`)
  }

  #finish(sock: Socket, type: string, verb: string, env: Record<string, string>, started: number, out: CallResult): void {
    const seconds = (performance.now() - started) / 1000
    const code = out.exit === 0 ? 0 : resultCode(out.stdout)
    this.#metrics.record(type, verb, seconds, code)
    this.#answer(sock, { kind: 'result', exit: out.exit, stdout: Buffer.from(out.stdout), stderr: Buffer.from(out.stderr) })
    const id = env['CNI_CONTAINERID'] ?? ''
    this.#o.log(`berthd: ${type} ${verb} container=${id === '' ? '-' : id.slice(0, 16)} ifname=${env['CNI_IFNAME'] || '-'} ms=${(seconds * 1000).toFixed(1)} code=${code}`)
  }
}

function tryAgainLater(msg: string): CallResult {
  return { exit: 1, stdout: JSON.stringify({ cniVersion: '1.1.0', code: 11, msg }), stderr: '' }
}

/** Whether `pid`'s chain of parents reaches `ancestor` (a process that is gone has none). */
export function descendsFrom(pid: number, ancestor: number): boolean {
  let p = pid
  for (let depth = 0; depth < 64 && p > 1; depth++) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'latin1')
    } catch {
      return false
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (p === ancestor) return true
  }
  return false
}

function nsId(path: string): string {
  const st = statSync(path)
  return `${st.dev}:${st.ino}`
}

/** The network name of a call, for serialising calls on one attachment; '' when stdin is not a config. */
function netName(stdin: Buffer): string {
  try {
    const v = JSON.parse(stdin.toString()) as { name?: unknown }
    return typeof v.name === 'string' ? v.name : ''
  } catch {
    return ''
  }
}

function resultCode(stdout: string): number {
  try {
    const code = (JSON.parse(stdout) as { code?: unknown }).code
    return typeof code === 'number' ? code : 999
  } catch {
    return 999
  }
}

function listen(server: Server, where: { path: string } | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(where, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** Makes the socket's directory (0700 when new) and removes a stale socket; refuses a live one. */
async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  let st
  try {
    st = lstatSync(path)
  } catch {
    return
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`)
  if (await socketAnswers(path)) throw new Error(`another berth daemon is listening on ${path}`)
  unlinkSync(path)
}

/** A stale socket refuses at once (ECONNREFUSED); a live one accepts. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path)
  } catch {
    // already gone
  }
}

/** A client for the control requests: status (JSON) or metrics (Prometheus text). */
export function control(socketPath: string, command: 'status' | 'metrics' | 'gc', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath)
    let buf: Buffer = Buffer.alloc(0)
    let sent = false
    const fail = (e: Error) => {
      clearTimeout(timer)
      sock.destroy()
      reject(e)
    }
    const timer = setTimeout(() => fail(new Error(`no answer from the berth daemon on ${socketPath} within ${timeoutMs} ms`)), timeoutMs)
    sock.on('error', fail)
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      const hello = sent ? undefined : decodeHello(buf)
      if (hello === undefined) return
      sent = true
      buf = buf.subarray(encodeHello(hello.build, hello.version).length)
      sock.write(encodeControl(command))
    })
    sock.on('end', () => {
      clearTimeout(timer)
      const r = decodeResponse(buf)
      if (r?.kind === 'result') resolve(r.stdout.toString())
      else reject(new Error('the berth daemon closed the connection without an answer'))
    })
  })
}
