// A berth daemon for one test: bin/berth daemon on a socket in a temporary directory (or on a given
// socket path, to restart one in place), optionally inside a test network namespace (a "host" with a
// daemon of its own), stopped with SIGTERM at teardown.
// callDaemon() plays the shim over daemon/PROTOCOL.md, for tests of the daemon itself.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeHello, decodeResponse, encodeRequest, type Response } from '../../daemon/protocol.js'
import { BIN_DIR } from './paths.js'

interface Tap {
  teardown(fn: () => unknown): void
}

export interface TestDaemon {
  socket: string
  proc: ChildProcess
  /** everything the daemon wrote to stderr so far */
  log(): string
  /** SIGTERM and wait for the exit; resolves with the exit code and how long it took */
  stop(): Promise<{ code: number | null; ms: number }>
  /** SIGKILL (a crash: nothing runs on the way out) and wait until the process is gone */
  kill(): Promise<void>
  /** whether the process has exited */
  readonly dead: boolean
}

/**
 * `socket`: serve on this path instead of a fresh temporary one (a restart after a crash takes over the
 * stale socket file); the caller owns its directory.
 */
export async function startDaemon(t: Tap, opts: { netns?: string; args?: string[]; socket?: string; env?: Record<string, string> } = {}): Promise<TestDaemon> {
  const dir = opts.socket === undefined ? mkdtempSync(join(tmpdir(), 'berth-test-daemon-')) : undefined
  const socket = opts.socket ?? join(dir as string, 'berthd.sock')
  const argv = [join(BIN_DIR, 'berth'), 'daemon', '--socket', socket, ...(opts.args ?? [])]
  const how = { stdio: ['ignore', 'ignore', 'pipe'] as ('ignore' | 'pipe')[], env: { ...process.env, ...opts.env } }
  const proc = opts.netns === undefined ? spawn(argv[0] as string, argv.slice(1), how) : spawn('nsenter', [`--net=${opts.netns}`, '--', ...argv], how)
  let stderr = ''
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const d: TestDaemon = {
    socket,
    proc,
    log: () => stderr,
    async stop() {
      const t0 = performance.now()
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      const code = await exited
      return { code, ms: performance.now() - t0 }
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    },
    get dead() {
      return proc.exitCode !== null || proc.signalCode !== null
    },
  }
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 6000)
      await exited
      clearTimeout(timer)
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 15_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`berth daemon exited with ${proc.exitCode}: ${stderr}`)
    if (/serving .* on /.test(stderr)) return d
    if (Date.now() > deadline) throw new Error(`berth daemon did not start within 15 s: ${stderr}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface DaemonCall {
  type: string
  env: Record<string, string>
  stdin: string | Buffer
  exe?: string
}

/** One call as the shim makes it; the daemon's response, or undefined when it closed without one. */
export function callDaemon(socket: string, c: DaemonCall): Promise<{ hello: { version: number; build: string } | undefined; response: Response | undefined }> {
  const req = encodeRequest({
    type: c.type,
    exe: c.exe ?? join(BIN_DIR, c.type),
    env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
    stdin: Buffer.isBuffer(c.stdin) ? c.stdin : Buffer.from(c.stdin),
  })
  return new Promise((resolve, reject) => {
    const s = connect(socket)
    let buf: Buffer = Buffer.alloc(0)
    let hello: { version: number; build: string } | undefined
    s.on('error', reject)
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (hello !== undefined) return
      hello = decodeHello(buf)
      if (hello === undefined) return
      buf = buf.subarray(12 + Buffer.byteLength(hello.build))
      s.write(req)
    })
    s.on('close', () => resolve({ hello, response: decodeResponse(buf) }))
  })
}
