// What bridge (host-local, ipMasq) and portmap keep on a throw-away host, for tests that check nothing is
// left behind: the host's veths, every file and directory under host-local's dataDir and under berth's
// per-host records (/run/berth/{bridge,portmap}/<host-ns-key>), and the elements of berth's nftables
// tables. A snapshot taken before is compared with one taken after: what appeared was left behind, what
// vanished was taken from an attachment that should still be there.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { FileLock } from '../../pkg/lock/lock.js'
import { netnsFileKey } from '../../pkg/ns/netns.js'
import type { TestNetns } from './netns.js'

export interface HostSnapshot {
  veths: string[]
  /** "<root label>/<relative path>", directories with a trailing "/" */
  files: string[]
  /** "<table> <set or map> <element as JSON>" */
  nft: string[]
}

const RECORD_ROOTS = { bridge: '/run/berth/bridge', portmap: '/run/berth/portmap' }
const NFT_TABLES = ['berth_bridge', 'berth_portmap']

/** The directories a snapshot walks: dataDir and the host namespace's record directories. */
export function stateRoots(host: TestNetns, dataDir: string): Record<string, string> {
  const key = netnsFileKey(host.path)
  return { dataDir, bridge: join(RECORD_ROOTS.bridge, key), portmap: join(RECORD_ROOTS.portmap, key) }
}

export function snapshotHost(host: TestNetns, dataDir: string): HostSnapshot {
  const links = host.ipJson(['-d', 'link']) as { ifname: string; linkinfo?: { info_kind?: string } }[]
  const files: string[] = []
  for (const [label, root] of Object.entries(stateRoots(host, dataDir))) files.push(...walk(root).map((f) => `${label}/${f}`))
  return { veths: links.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname), files, nft: nftElements(host) }
}

/** The differences: "left <what>" for what appeared since `before`, "lost <what>" for what vanished. */
export function residue(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = []
  for (const k of ['veths', 'files', 'nft'] as const) {
    const was = new Set(before[k])
    const now = new Set(after[k])
    for (const x of now) if (!was.has(x)) out.push(`left ${k === 'veths' ? 'veth' : k === 'files' ? 'file' : 'nft element'} ${x}`)
    for (const x of was) if (!now.has(x)) out.push(`lost ${k === 'veths' ? 'veth' : k === 'files' ? 'file' : 'nft element'} ${x}`)
  }
  return out
}

/** The lock files (named "lock") under the state roots that someone holds right now. */
export function heldLocks(host: TestNetns, dataDir: string): string[] {
  const held: string[] = []
  for (const root of Object.values(stateRoots(host, dataDir))) {
    for (const f of walk(root)) {
      if (!/(^|\/)lock$/.test(f)) continue
      const lock = FileLock.tryAcquire(join(root, f))
      if (lock === undefined) held.push(join(root, f))
      else lock.release()
    }
  }
  return held
}

function walk(dir: string, rel = ''): string[] {
  const here = join(dir, rel)
  if (!existsSync(here)) return []
  const out: string[] = []
  for (const name of readdirSync(here)) {
    const r = rel === '' ? name : `${rel}/${name}`
    let isDir: boolean
    try {
      isDir = statSync(join(dir, r)).isDirectory()
    } catch {
      continue // removed while we looked
    }
    if (isDir) out.push(`${r}/`, ...walk(dir, r))
    else out.push(r)
  }
  return out
}

function nftElements(host: TestNetns): string[] {
  const out: string[] = []
  for (const table of NFT_TABLES) {
    const r = spawnSync('nsenter', [`--net=${host.path}`, '--', 'nft', '-j', 'list', 'table', 'inet', table], { encoding: 'utf8' })
    if (r.status !== 0) continue // no such table yet
    const list = (JSON.parse(r.stdout) as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables
    for (const o of list) {
      const s = o['map'] ?? o['set']
      for (const e of s?.elem ?? []) out.push(`${table} ${String(s?.name)} ${JSON.stringify(e)}`)
    }
  }
  return out
}
