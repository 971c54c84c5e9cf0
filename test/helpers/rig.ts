// Rigs for integration tests: run bin/berth, make a uniquely named rig that t.teardown removes (also on
// failure), and look into a rig member's namespace with `ip -n`.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { uniqueName } from './names.js'
import { BIN_DIR } from './paths.js'

export const BERTH = join(BIN_DIR, 'berth')

export interface BerthRun {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs bin/berth with argv (no shell) and returns its exit status and output. */
export function berth(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number; input?: string } = {}): BerthRun {
  const r = spawnSync(BERTH, args, { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeout ?? 60_000, input: opts.input ?? '' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

export interface RigMemberView {
  name: string
  netns: string
  address: string
  ip: string
  interface: string
  root: string
  address6?: string
  ip6?: string
}

export interface RigView {
  name: string
  state: string
  driver: string
  underlay: string
  gateway: string
  underlay6?: string
  gateway6?: string
  switch: RigMemberView
  hosts: RigMemberView[]
}

interface Tap {
  teardown(fn: () => unknown): void
}

/** A fresh rig name ("btrg" + 8 hex: no collisions between parallel runs). */
export const rigName = (): string => uniqueName('rg')

/** `berth rig down NAME` when the test ends, whatever happened. */
export function downOnTeardown(t: Tap, name: string): void {
  t.teardown(() => {
    const r = berth(['rig', 'down', name])
    if (r.status !== 0) process.stderr.write(`rig down ${name} failed in teardown: ${r.stderr}\n`)
  })
}

/** Makes a rig (removed on teardown) and returns `rig inspect --json`; throws with berth's stderr on failure. */
export function makeRig(t: Tap, opts: { hosts: number; driver?: string; underlay?: string; name?: string }): RigView {
  const name = opts.name ?? rigName()
  downOnTeardown(t, name)
  const args = ['rig', 'up', '--name', name, '--hosts', String(opts.hosts), '--json']
  if (opts.driver !== undefined) args.push('--driver', opts.driver)
  if (opts.underlay !== undefined) args.push('--underlay', opts.underlay)
  const r = berth(args)
  if (r.status !== 0) throw new Error(`berth rig up failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout) as RigView
}

/** The netns name of a member path (/run/netns/R.host1 → R.host1). */
export const nsName = (m: RigMemberView): string => m.netns.slice(m.netns.lastIndexOf('/') + 1)

/** `ip -n NS -j ARGS`, parsed. */
export function ipIn(m: RigMemberView, args: readonly string[]): unknown {
  const out = execFileSync('ip', ['-n', nsName(m), '-j', ...args], { encoding: 'utf8', timeout: 10_000 })
  return out.trim() === '' ? [] : JSON.parse(out)
}

/** Names listed by `ip netns list` (the machine's /run/netns). */
export function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '')
}

/** Whether `pid` runs (a zombie waiting for a parent that does not reap it counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
