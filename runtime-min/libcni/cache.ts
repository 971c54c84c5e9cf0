// libcni's result cache, byte-compatible: ${cacheDir}/results/NETNAME-CONTAINERID-IFNAME holding
//   {"kind":"cniCacheV1","containerId","config"(base64 of the conflist bytes),"ifName","networkName",
//    "netns"?,"cniArgs"?,"capabilityArgs"?,"result"?}
// in libcni's field order (Go's struct order; the optional ones omitted when empty, as omitempty does),
// directory 0700, file 0600. Unlike libcni, the file is written atomically (write + rename), so a crash
// never leaves half a cache file; a damaged one is still read as "corrupt", never as an error that could
// block DEL. Cache files written by libcni itself (podman, cnitool, containerd) read the same way.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { validateContainerId, validateIfName, validateNetworkName } from '../../pkg/cni/validate.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'
import { mkdirAll } from '../mkdir-all.js'
import { sortKeys } from './go-json.js'

export const CACHE_KIND = 'cniCacheV1'

export interface CachedAttachment {
  containerId: string
  ifName: string
  networkName: string
  netns: string
  /** the conflist the attachment was made with */
  config: Uint8Array
  cniArgs: [string, string][]
  capabilityArgs: Record<string, unknown>
  /** the ADD result as printed (in the list's cniVersion), undefined when there is none */
  result: Record<string, unknown> | undefined
}

export type CacheRead =
  | { state: 'missing' }
  | { state: 'corrupt'; reason: string }
  /** a pre-cniCacheV1 file: only a result, as libcni's getLegacyCachedResult reads it */
  | { state: 'legacy'; result: Record<string, unknown> }
  | { state: 'ok'; entry: CachedAttachment }

export const resultsDir = (cacheDir: string): string => join(cacheDir, 'results')

/** The cache file of one attachment; the three names are validated so none can walk out of the dir. */
export function cacheFilePath(cacheDir: string, network: string, containerId: string, ifName: string): string {
  validateNetworkName(network)
  validateContainerId(containerId)
  validateIfName(ifName)
  return safeJoin(resultsDir(cacheDir), `${network}-${containerId}-${ifName}`, { what: 'cache file name' })
}

/** The file's text, exactly as libcni lays it out. */
export function encodeCache(e: CachedAttachment): string {
  const doc: Record<string, unknown> = {
    kind: CACHE_KIND,
    containerId: e.containerId,
    config: Buffer.from(e.config).toString('base64'),
    ifName: e.ifName,
    networkName: e.networkName,
  }
  if (e.netns !== '') doc['netns'] = e.netns
  if (e.cniArgs.length > 0) doc['cniArgs'] = e.cniArgs
  // Go marshals these maps with sorted keys
  if (Object.keys(e.capabilityArgs).length > 0) doc['capabilityArgs'] = sortKeys(e.capabilityArgs)
  if (e.result !== undefined && Object.keys(e.result).length > 0) doc['result'] = sortKeys(e.result)
  return JSON.stringify(doc)
}

export function writeCache(cacheDir: string, e: CachedAttachment): void {
  const file = cacheFilePath(cacheDir, e.networkName, e.containerId, e.ifName)
  mkdirAll(resultsDir(cacheDir), 0o700)
  writeFileAtomicSync(file, encodeCache(e), { mode: 0o600 })
}

/** Reads one attachment's cache file; never throws for its content (missing/corrupt are states). */
export function readCache(cacheDir: string, network: string, containerId: string, ifName: string): CacheRead {
  const file = cacheFilePath(cacheDir, network, containerId, ifName)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? { state: 'missing' } : { state: 'corrupt', reason: `cannot read ${file}: ${code ?? String(e)}` }
  }
  return decodeCache(text, file)
}

export function decodeCache(text: string, file = 'cache file'): CacheRead {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return { state: 'corrupt', reason: `${file} is not JSON${text.trim() === '' ? ' (empty)' : ''}` }
  }
  if (!isObject(doc)) return { state: 'corrupt', reason: `${file} is not a JSON object` }
  if (doc['kind'] !== CACHE_KIND) {
    // libcni falls back to reading the whole file as a result (caches from before cniCacheV1)
    if (typeof doc['cniVersion'] === 'string') return { state: 'legacy', result: doc }
    return { state: 'corrupt', reason: `${file} has kind ${JSON.stringify(doc['kind'])}, expected ${CACHE_KIND}` }
  }
  const str = (k: string) => (typeof doc[k] === 'string' ? (doc[k] as string) : undefined)
  const containerId = str('containerId')
  const ifName = str('ifName')
  const networkName = str('networkName')
  if (containerId === undefined || ifName === undefined || networkName === undefined) {
    return { state: 'corrupt', reason: `${file} lacks containerId, ifName or networkName` }
  }
  const cfg = doc['config']
  if (cfg !== undefined && cfg !== null && (typeof cfg !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(cfg))) {
    return { state: 'corrupt', reason: `${file}: config is not base64` }
  }
  const args = doc['cniArgs']
  const cniArgs: [string, string][] = []
  if (Array.isArray(args)) {
    for (const p of args) {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
        return { state: 'corrupt', reason: `${file}: cniArgs is not a list of [key, value] pairs` }
      }
      cniArgs.push([p[0], p[1]])
    }
  }
  const caps = doc['capabilityArgs']
  const result = doc['result']
  return {
    state: 'ok',
    entry: {
      containerId,
      ifName,
      networkName,
      netns: str('netns') ?? '',
      config: typeof cfg === 'string' ? Buffer.from(cfg, 'base64') : new Uint8Array(),
      cniArgs,
      capabilityArgs: isObject(caps) ? caps : {},
      result: isObject(result) ? result : undefined,
    },
  }
}

export function deleteCache(cacheDir: string, network: string, containerId: string, ifName: string): void {
  rmSync(cacheFilePath(cacheDir, network, containerId, ifName), { force: true })
}

/**
 * Every readable cniCacheV1 entry (libcni GetCachedAttachments), sorted by file name; entries that fail
 * to parse or lack an interface or network name are skipped, as libcni skips them.
 */
export function listCachedAttachments(cacheDir: string, filter: { network?: string; containerId?: string } = {}): CachedAttachment[] {
  let names: string[]
  try {
    names = readdirSync(resultsDir(cacheDir)).sort()
  } catch {
    return []
  }
  const out: CachedAttachment[] = []
  for (const n of names) {
    if (n.startsWith('.')) continue // our own temporary files
    let text: string
    try {
      text = readFileSync(join(resultsDir(cacheDir), n), 'utf8')
    } catch {
      continue
    }
    const r = decodeCache(text, n)
    if (r.state !== 'ok' || r.entry.ifName === '' || r.entry.networkName === '') continue
    if (filter.network !== undefined && r.entry.networkName !== filter.network) continue
    if (filter.containerId !== undefined && r.entry.containerId !== filter.containerId) continue
    out.push(r.entry)
  }
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
