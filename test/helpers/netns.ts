// Throw-away network namespaces for integration tests, each a bind mount /run/netns/bt<tag><8 hex> made
// by `ip netns add`: no process holds it, so nothing that kills processes (another test's clean-up, a
// `berth rig down` on the machine) can take it away under the test; t.teardown deletes the name. The
// namespace, and everything in it (links, nft tables, sysctls), dies once no process is left inside.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { netnsFileKey } from '../../pkg/ns/netns.js'
import { uniqueName } from './names.js'

export interface TestNetns {
  /** /run/netns/NAME */
  path: string
  /** NAME: for `ip link ... netns NAME` and `ip -n NAME` */
  name: string
  /** Runs a command inside the namespace (via nsenter), returning stdout. Throws on non-zero exit. */
  exec(cmd: string, args: string[], opts?: { input?: string; timeout?: number }): string
  /** `ip -j ARGS` inside the namespace, parsed. */
  ipJson(args: string[]): unknown
  /** Deletes the name now (teardown does it otherwise); the namespace dies once nothing else holds it. */
  destroy(): void
}

interface Tap {
  teardown(fn: () => unknown): void
}

/** Creates a namespace that lives until the test ends (t.teardown deletes it, also on failure). */
export async function createTestNetns(t: Tap): Promise<TestNetns> {
  const name = uniqueName('ns')
  adopt(name, () => execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 }))
  return handle(t, name)
}

/** One end of a veth for wireVeth: its namespace (undefined: this process's own), name and address. */
export interface VethEnd {
  ns?: TestNetns | undefined
  name: string
  /** "10.1.2.3/24" */
  addr?: string
}

/**
 * A veth pair from `a` to `b` (made in a's namespace, b's end moved into b's), both ends up with their
 * addresses: a "LAN" or "uplink" between two test namespaces, or the machine's and one.
 */
export function wireVeth(a: VethEnd, b: VethEnd & { ns: TestNetns }): void {
  const inA = (args: string[]) => (a.ns === undefined ? execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 }) : a.ns.exec('ip', args))
  inA(['link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns.name])
  if (a.addr !== undefined) inA(['addr', 'add', a.addr, 'dev', a.name])
  inA(['link', 'set', a.name, 'up'])
  if (b.addr !== undefined) b.ns.exec('ip', ['addr', 'add', b.addr, 'dev', b.name])
  b.ns.exec('ip', ['link', 'set', b.name, 'up'])
}

/**
 * A second name for `ns`'s namespace (a bind mount of its file), deleted at teardown: the namespace
 * outlives `ns.destroy()` until this one is destroyed too, as when a container process still runs in it.
 */
export function holdTestNetns(t: Tap, ns: TestNetns): TestNetns {
  const name = uniqueName('nsh')
  const path = `/run/netns/${name}`
  adopt(name, () => {
    writeFileSync(path, '', { flag: 'wx', mode: 0o444 })
    try {
      execFileSync('mount', ['--bind', ns.path, path], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
    } catch (e) {
      rmSync(path, { force: true })
      throw e
    }
  })
  return handle(t, name)
}

function handle(t: Tap, name: string): TestNetns {
  const path = `/run/netns/${name}`
  const ns: TestNetns = {
    path,
    name,
    exec(cmd, cargs, o = {}) {
      return execFileSync('nsenter', [`--net=${path}`, '--', cmd, ...cargs], {
        encoding: 'utf8',
        input: o.input,
        timeout: o.timeout ?? 20000,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    },
    ipJson(iargs) {
      const out = ns.exec('ip', ['-j', ...iargs])
      return out.trim() === '' ? [] : JSON.parse(out)
    },
    destroy() {
      if (!live.has(name)) return
      dropHostRecords(path)
      execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
      release(name)
    },
  }
  t.teardown(() => ns.destroy())
  return ns
}

// Per-host-namespace records of bridge and portmap (plugins/*/state dirs, named by the namespace's
// dev-inode) would outlive the namespace; a later namespace reusing the inode would then inherit them.
// Removed while the namespace still exists, so no other namespace can hold that inode yet.
const HOST_RECORD_ROOTS = ['/run/berth/bridge', '/run/berth/portmap']

function dropHostRecords(nsPath: string): void {
  let key: string
  try {
    key = netnsFileKey(nsPath)
  } catch {
    return
  }
  for (const root of HOST_RECORD_ROOTS) rmSync(`${root}/${key}`, { recursive: true, force: true })
}

// A test file that tap kills on timeout (SIGKILL when it does not answer in time) runs no teardown. So
// a watchdog, one per test process, is told each name before it is made and after it is deleted
// (+NAME / -NAME lines on its stdin); when that pipe closes, however we ended, it kills what still runs
// in the names left (servers started there), drops their host records and deletes them. The namespaces
// are pinned by their names meanwhile, so the inodes it matches processes by are theirs.
const WATCHDOG = `
const { spawnSync } = require('node:child_process')
const { existsSync, readdirSync, rmSync, statSync } = require('node:fs')
const live = new Set()
let buf = ''
process.stdin.on('data', (d) => {
  buf += d
  for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
    const line = buf.slice(0, i)
    if (line[0] === '+') live.add(line.slice(1))
    else live.delete(line.slice(1))
  }
})
const id = (p) => { try { const st = statSync(p); return st.dev + '-' + st.ino } catch { return undefined } }
process.stdin.on('end', () => {
  for (const name of live) {
    const key = id('/run/netns/' + name)
    if (key !== undefined) {
      for (const pid of readdirSync('/proc')) {
        if (/^[0-9]+$/.test(pid) && id('/proc/' + pid + '/ns/net') === key) try { process.kill(Number(pid), 'SIGKILL') } catch {}
      }
      // berth's key is dev-ino-cookie; the cookie cannot be read from here, and the namespace is still alive
      for (const root of ${JSON.stringify(HOST_RECORD_ROOTS)}) for (const d of (existsSync(root) ? readdirSync(root) : [])) if (d.startsWith(key + '-')) rmSync(root + '/' + d, { recursive: true, force: true })
    }
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 10000 })
  }
})
`
let watchdog: ChildProcess | undefined
const live = new Set<string>()

function tell(line: string): void {
  if (watchdog === undefined) {
    // Without tap's NODE_OPTIONS: it may outlive us, and tap's process-info hooks must not see it.
    const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' }
    watchdog = spawn(process.execPath, ['-e', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env })
    // Neither the process nor the pipe keeps this process alive: the pipe closing is the signal.
    watchdog.unref()
    ;(watchdog.stdin as Socket).unref()
    watchdog.stdin?.on('error', () => undefined)
  }
  watchdog.stdin?.write(`${line}\n`)
}

/** Runs `make` (which creates /run/netns/NAME) with the name known to the watchdog first. */
function adopt(name: string, make: () => void): void {
  live.add(name)
  tell(`+${name}`)
  try {
    make()
  } catch (e) {
    release(name)
    throw e
  }
}

function release(name: string): void {
  live.delete(name)
  tell(`-${name}`)
}
