// `berth net create|ls|inspect|rm`: networks are conflists in the CNI config dir (see netconf/).
import { existsSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { CliError } from '../cli-error.js'
import { listCachedAttachments, loadNetworkList, scanConfDir } from '../libcni/index.js'
import { summarize } from '../netconf/conflist.js'
import { createNetwork, deleteBridge, removeReservations, withNetLock, type CreatedNetwork } from '../netconf/networks.js'
import { cniCacheDir, cniConfDir, containersDir } from '../paths.js'
import { knownContainers } from './known-containers.js'

interface ConfDirArg {
  confDir?: string | undefined
}
const dirOf = (a: ConfDirArg) => (a.confDir !== undefined ? resolve(a.confDir) : cniConfDir())

export async function netCreate(
  a: ConfDirArg & { name: string; driver: string; subnets: string[]; gateway?: string | undefined; internal: boolean; mtu?: number | undefined; vni?: number | undefined; parent?: string | undefined },
): Promise<CreatedNetwork> {
  const driver = a.driver
  if (driver !== 'bridge' && driver !== 'vxlan' && driver !== 'macvlan') throw new CliError(`invalid --driver ${JSON.stringify(driver)}`, 'use bridge, vxlan or macvlan')
  return createNetwork({ ...a, driver, confDir: dirOf(a) })
}

export interface NetworkRow {
  name: string
  driver: string
  subnets: string[]
  bridge?: string
  internal: boolean
  cniVersion: string
  plugins: string[]
  file: string
}

/** Every network in the dir; files that are not valid network configs are reported on stderr. */
export function networkRows(dir: string): NetworkRow[] {
  const rows: NetworkRow[] = []
  const seen = new Set<string>()
  for (const e of scanConfDir(dir)) {
    if ('error' in e) {
      process.stderr.write(`berth: warning: skipping ${e.file}: ${e.error}\n`)
      continue
    }
    // libcni uses the first file that has a name; later ones with the same name are shadowed
    if (seen.has(e.list.name)) continue
    seen.add(e.list.name)
    rows.push({ name: e.list.name, ...summarize(e.list.plugins), cniVersion: e.list.cniVersion, plugins: e.list.plugins.map((p) => p.type), file: e.file })
  }
  return rows
}

export function netLs(a: ConfDirArg & { json: boolean }): string {
  const rows = networkRows(dirOf(a))
  if (a.json) return `${JSON.stringify(rows, null, 2)}\n`
  const table = [['NAME', 'DRIVER', 'SUBNETS', 'BRIDGE', 'FILE'], ...rows.map((r) => [r.name, r.driver + (r.internal ? ' (internal)' : ''), r.subnets.join(',') || '-', r.bridge ?? '-', r.file])]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)))
  return table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n'
}

export function netInspect(a: ConfDirArg & { name: string }): string {
  const dir = dirOf(a)
  const list = loadNetworkList(dir, a.name)
  const doc = {
    name: list.name,
    file: list.source,
    ...summarize(list.plugins),
    cniVersion: list.cniVersion,
    conflist: JSON.parse(Buffer.from(list.bytes).toString('utf8')) as unknown,
    containers: knownContainers(containersDir()).filter((c) => c.networks.includes(list.name)).map((c) => c.name),
    attachments: listCachedAttachments(cniCacheDir(), { network: list.name }).map((c) => ({ containerId: c.containerId, ifName: c.ifName, netns: c.netns })),
  }
  return `${JSON.stringify(doc, null, 2)}\n`
}

/**
 * Removes the network's conflist, and for networks berth made its host-local reservations and its bridge.
 * Refused while a berth container uses it, or while a namespace attached with `berth cni add` still exists.
 */
export function netRm(a: ConfDirArg & { name: string }): Promise<void> {
  return withNetLock(() => removeUnused(dirOf(a), a.name))
}

async function removeUnused(dir: string, name: string): Promise<void> {
  const list = loadNetworkList(dir, name)
  const users = knownContainers(containersDir()).filter((c) => c.networks.includes(list.name)).map((c) => c.name)
  if (users.length > 0) {
    throw new CliError(`network ${JSON.stringify(list.name)} is in use by container${users.length > 1 ? 's' : ''} ${users.join(', ')}`, `remove ${users.length > 1 ? 'them' : 'it'} first with 'berth rm -f ${users.join(' ')}'`)
  }
  const live = listCachedAttachments(cniCacheDir(), { network: list.name }).filter((c) => c.netns !== '' && existsSync(c.netns))
  if (live.length > 0) {
    throw new CliError(`network ${JSON.stringify(list.name)} is attached to ${live.map((l) => `${l.netns} (${l.ifName})`).join(', ')}`, `detach first with 'berth cni del ${list.name} ${live[0]!.netns}'`)
  }
  rmSync(list.source, { force: true })
  removeReservations(list)
  const s = summarize(list.plugins)
  if (s.driver === 'bridge' && s.bridge !== undefined) await deleteBridge(s.bridge)
}
