// A throw-away etcd for tests: its own data directory and free ports, started and stopped by the test.
// `wrap` runs it elsewhere, e.g. ['nsenter', '--net=/run/netns/x'] or ['berth', 'rig', 'exec', 'R', 'switch', '--']
// with `host` an address there (a rig's underlay), so hosts in other namespaces can reach it. The wrapper must
// exec etcd or pass SIGTERM on (nsenter execs); the health check runs through the same wrapper.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

export interface EtcdServer {
  /** "http://HOST:PORT" for the client API */
  readonly endpoint: string
  readonly dataDir: string
  /** stops etcd (SIGTERM, then SIGKILL) and waits for it to exit; keeps the data */
  stop(): Promise<void>
  /** starts it again on the same ports and data (after stop()) and waits until it is healthy */
  start(): Promise<void>
}

export interface EtcdOptions {
  host?: string
  wrap?: string[]
  /** ports to use (default: free ones on 127.0.0.1, which suits host 127.0.0.1 only) */
  clientPort?: number
  peerPort?: number
}

/** false, or why etcd tests cannot run here (for tap's skip). */
export function needsEtcd(): false | string {
  const r = spawnSync('etcd', ['--version'], { stdio: 'ignore' })
  return r.error === undefined && r.status === 0 ? false : 'the etcd binary is missing (apt-get install etcd-server, see scripts/setup)'
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

// GET /health from where etcd listens: this process, or a node run through the wrapper (another namespace).
const HEALTH_JS = `fetch(process.argv[1] + '/health', { signal: AbortSignal.timeout(1000) }).then((r) => r.json()).then((j) => process.exit(j.health === 'true' ? 0 : 1), () => process.exit(1))`

async function healthy(endpoint: string, wrap: string[] | undefined): Promise<boolean> {
  if (wrap === undefined || wrap.length === 0) {
    try {
      const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) })
      return r.ok && ((await r.json()) as { health?: string }).health === 'true'
    } catch {
      return false // not listening yet
    }
  }
  const [cmd, ...args] = wrap as [string, ...string[]]
  const p = spawn(cmd, [...args, process.execPath, '-e', HEALTH_JS, endpoint], { stdio: 'ignore' })
  return new Promise((resolve) => {
    p.on('error', () => resolve(false))
    p.on('close', (code) => resolve(code === 0))
  })
}

/** Starts etcd and registers its stop and the removal of its data directory as teardown. */
export async function startEtcd(t: Test, opts: EtcdOptions = {}): Promise<EtcdServer> {
  const host = opts.host ?? '127.0.0.1'
  const clientPort = opts.clientPort ?? (await freePort())
  const peerPort = opts.peerPort ?? (await freePort())
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-etcd-'))
  const endpoint = `http://${host}:${clientPort}`
  const peer = `http://${host}:${peerPort}`
  const argv = [
    ...(opts.wrap ?? []),
    'etcd',
    '--name=t',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=t=${peer}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=error',
  ]
  let proc: ChildProcess | undefined
  let log = ''
  const start = async () => {
    const [cmd, ...args] = argv as [string, ...string[]]
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    proc = p
    p.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    const deadline = Date.now() + 20_000
    for (;;) {
      if (p.exitCode !== null) throw new Error(`etcd exited with ${p.exitCode}: ${log.trim()}`)
      if (await healthy(endpoint, opts.wrap)) return
      if (Date.now() > deadline) throw new Error(`etcd at ${endpoint} not healthy after 20 s: ${log.trim()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const stop = async () => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  t.teardown(async () => {
    await stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await start()
  return { endpoint, dataDir, stop, start }
}
