// A throw-away "host" for `berth run` tests: a test network namespace (/run/netns/NAME) with an
// uplink veth to a second "outside" namespace, and a BERTH_ROOT in a test directory. bin/berth runs
// inside the host namespace via nsenter, so bridges, veths, nft rules and sysctls never touch the
// machine. Namespace files berth bind-mounts live under the test's BERTH_ROOT; teardown removes every
// container (berth rm -f), unmounts anything left there, then deletes the namespaces.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { basename, join } from 'node:path'
import { createTestNetns, type TestNetns } from './netns.js'
import { uniqueName } from './names.js'
import { BIN_DIR } from './paths.js'

interface Tap {
  teardown(fn: () => unknown): void
  testdir(): string
}

export interface BerthRun {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface BerthHost {
  host: TestNetns
  /** the "outside" namespace, linked to the host by a veth */
  outside: TestNetns
  /** the host's address on the uplink (what the outside reaches it by) */
  hostAddr: string
  uplink: string
  root: string
  dataDir: string
  cacheDir: string
  containersDir: string
  netnsDir: string
  berth(args: string[], opts?: { timeout?: number; env?: Record<string, string>; cwd?: string }): BerthRun
  /** starts berth without waiting (foreground runs that a test signals) */
  spawnBerth(args: string[], opts?: { env?: Record<string, string> }): ChildProcess
  /** everything a container could leave behind, described; [] when clean */
  leftovers(marks?: { ips?: string[]; ids?: string[]; ports?: number[] }): string[]
}

const PATH = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'

export async function createBerthHost(t: Tap): Promise<BerthHost> {
  const host = await createTestNetns(t)
  const outside = await createTestNetns(t)
  const root = t.testdir()
  const uplink = uniqueName('up')
  const octet = 1 + Math.floor(Math.random() * 250)
  const hostAddr = `192.0.2.${octet}`
  const outsideAddr = `192.0.2.${octet + 1}`
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  outside.exec('ip', ['link', 'set', 'lo', 'up'])
  host.exec('ip', ['link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'out0', 'netns', outside.name])
  host.exec('ip', ['addr', 'add', `${hostAddr}/24`, 'dev', uplink])
  host.exec('ip', ['link', 'set', uplink, 'up'])
  outside.exec('ip', ['addr', 'add', `${outsideAddr}/24`, 'dev', 'out0'])
  outside.exec('ip', ['link', 'set', 'out0', 'up'])

  const env = (extra: Record<string, string> = {}) => ({ PATH, BERTH_ROOT: root, CNI_PATH: BIN_DIR, ...extra })
  const berthArgv = (args: string[]) => [`--net=${host.path}`, '--', join(BIN_DIR, 'berth'), ...args]
  const b: BerthHost = {
    host,
    outside,
    hostAddr,
    uplink,
    root,
    dataDir: join(root, 'var/lib/cni/networks'),
    cacheDir: join(root, 'var/lib/cni/results'),
    containersDir: join(root, 'run/berth/containers'),
    netnsDir: join(root, 'run/netns'),
    berth(args, opts = {}) {
      const r = spawnSync('nsenter', berthArgv(args), { env: env(opts.env), encoding: 'utf8', timeout: opts.timeout ?? 90_000, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) })
      return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
    },
    spawnBerth(args, opts = {}) {
      return spawn('nsenter', berthArgv(args), { env: env(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
    },
    leftovers(marks = {}) {
      return leftovers(b, marks)
    },
  }
  t.teardown(() => {
    // every container berth knows, then anything still mounted under the test root, then the namespaces
    const ps = b.berth(['ps', '-a', '--json'])
    try {
      for (const c of JSON.parse(ps.stdout) as { name: string }[]) b.berth(['rm', '-f', c.name])
    } catch {
      // no containers or no berth: nothing to remove
    }
    for (const m of mountsUnder(root)) spawnSync('umount', ['-l', m])
    host.destroy()
    outside.destroy()
  })
  return b
}

/** Mount points below `dir` in this mount namespace. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const f of readdirSync(dir)) {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) out.push(...listFiles(p))
    else out.push(p)
  }
  return out
}

function leftovers(b: BerthHost, marks: { ips?: string[]; ids?: string[]; ports?: number[] }): string[] {
  const out: string[] = []
  for (const d of [b.containersDir, b.netnsDir]) {
    if (existsSync(d) && readdirSync(d).length > 0) out.push(`${d} holds ${readdirSync(d).join(', ')}`)
  }
  for (const m of mountsUnder(b.root)) out.push(`mount ${m}`)
  const links = b.host.ipJson(['-d', 'link']) as { ifname: string; linkinfo?: { info_kind?: string } }[]
  for (const l of links) if (l.linkinfo?.info_kind === 'veth' && l.ifname !== b.uplink) out.push(`veth ${l.ifname} in the host`)
  // host-local reservations are files named by address (and their owner records)
  for (const f of listFiles(b.dataDir)) {
    const name = basename(f)
    if (isIP(name) !== 0 || f.includes('/.berth-owners/')) out.push(`reservation ${f}`)
  }
  for (const f of listFiles(b.cacheDir)) out.push(`cache file ${f}`)
  const ruleset = b.host.exec('nft', ['list', 'ruleset'])
  for (const ip of marks.ips ?? []) if (ruleset.includes(`${ip} `) || ruleset.includes(`${ip},`)) out.push(`nft still mentions ${ip}`)
  for (const id of marks.ids ?? []) if (ruleset.includes(`id:${id.slice(0, 12)}`)) out.push(`nft still has elements of container ${id.slice(0, 12)}`)
  for (const p of marks.ports ?? []) if (new RegExp(`\\. ${p} (comment|:)`).test(ruleset)) out.push(`nft still maps port ${p}`)
  return out
}

/** The IPv4 addresses of a container's CNI results (from `berth inspect`). */
export function containerIPs(inspect: { networks: { result: { ips?: { address: string }[] } | null }[] }): string[] {
  return inspect.networks.flatMap((n) => (n.result?.ips ?? []).map((i) => i.address.split('/')[0] ?? ''))
}
