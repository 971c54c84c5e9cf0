// Finding a network by its "name" in a CNI conf dir, as libcni's LoadNetworkConf does: *.conflist files
// in name order first; then single-plugin *.conf/*.json files, wrapped into a one-plugin list (libcni
// ConfListFromConf). A conflist without "plugins" (and loadOnlyInlinedPlugins false) takes its plugins
// from <dir>/<name>/*.conf. Difference from libcni: an unreadable or invalid file does not hide every
// other network; it is skipped, and named in the "not found" error so the user can fix it.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { parseConflist, parseJson, type PluginConf, PluginConfSchema, parseWith } from '../../pkg/cni/schema.js'
import { validateNetworkName } from '../../pkg/cni/validate.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { describe } from '../../pkg/errors/describe.js'
import { goJson } from './go-json.js'
import type { NetworkList } from './types.js'

/** Parses conflist bytes (libcni NetworkConfFromBytes); `dir` is where <name>/*.conf plugins are looked for. */
export function networkListFromBytes(bytes: Uint8Array, source = '', dir?: string): NetworkList {
  const c = parseConflist(bytes, source === '' ? 'conflist' : source)
  const plugins = [...c.plugins]
  if (!c.loadOnlyInlinedPlugins && dir !== undefined) plugins.push(...pluginFiles(join(dir, c.name)))
  if (plugins.length === 0) throw new CniError(CniCode.InvalidConfig, `network ${JSON.stringify(c.name)}${source ? ` (${source})` : ''} has no plugins`)
  return {
    name: c.name,
    cniVersion: c.cniVersion,
    disableCheck: c.disableCheck,
    disableGC: c.disableGC,
    loadOnlyInlinedPlugins: c.loadOnlyInlinedPlugins,
    plugins,
    bytes,
    source,
  }
}

/** A single plugin config (.conf/.json) wrapped into a one-plugin list, as libcni's ConfListFromConf. */
export function networkListFromConf(bytes: Uint8Array, source = ''): NetworkList {
  const raw = parseJson(bytes, `network configuration in ${source || 'conf'}`)
  parseWith(PluginConfSchema, raw, 'network configuration')
  const obj = raw as Record<string, unknown>
  const name = typeof obj['name'] === 'string' ? obj['name'] : ''
  validateNetworkName(name)
  // Go marshals maps with sorted keys: these are the bytes libcni would cache for this network.
  const wrapped = { cniVersion: obj['cniVersion'] ?? '', name, plugins: [obj] }
  return networkListFromBytes(Buffer.from(goJson(wrapped)), source)
}

function pluginFiles(dir: string): PluginConf[] {
  return confFiles(dir, ['.conf']).map((f) => {
    const raw = parseJson(readFileSync(f), `plugin configuration ${f}`)
    return parseWith(PluginConfSchema, raw, `plugin configuration ${f}`)
  })
}

/** Files of the given extensions in `dir`, sorted by name; none when the dir does not exist. */
export function confFiles(dir: string, exts: readonly string[]): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    const code = (e as NodeJS.ErrnoException).code ?? describe(e)
    throw new CniError(CniCode.IoFailure, `cannot read CNI config dir ${dir}: ${code}; it must be a readable directory (see --cni-conf-dir)`)
  }
  return names
    .filter((n) => exts.includes(extname(n)))
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile()
      } catch {
        return false
      }
    })
    .sort()
}

/** One entry of a conf dir: a network, or a file that could not be read as one. */
export type ConfEntry = { file: string; list: NetworkList } | { file: string; error: string }

/** Every network in the dir, in libcni's lookup order (conflists first), invalid files reported. */
export function scanConfDir(dir: string): ConfEntry[] {
  const out: ConfEntry[] = []
  const read = (file: string, fn: (b: Uint8Array, f: string) => NetworkList) => {
    try {
      out.push({ file, list: fn(readFileSync(file), file) })
    } catch (e) {
      out.push({ file, error: e instanceof CniError ? e.message : describe(e) })
    }
  }
  for (const f of confFiles(dir, ['.conflist'])) read(f, (b, file) => networkListFromBytes(b, file, dir))
  for (const f of confFiles(dir, ['.conf', '.json'])) read(f, networkListFromConf)
  return out
}

/** The network named `name` in `dir` (the first match in libcni's order); CniError naming what to do otherwise. */
export function loadNetworkList(dir: string, name: string): NetworkList {
  validateNetworkName(name)
  const entries = scanConfDir(dir)
  for (const e of entries) if ('list' in e && e.list.name === name) return e.list
  const broken = entries.filter((e): e is { file: string; error: string } => 'error' in e)
  const hint = broken.length > 0 ? ` (skipped invalid files: ${broken.map((b) => `${b.file}: ${b.error}`).join('; ')})` : ''
  throw new NetworkNotFoundError(dir, name, hint)
}

export class NetworkNotFoundError extends CniError {
  readonly network: string
  constructor(dir: string, name: string, hint = '') {
    super(CniCode.InvalidConfig, `no network named ${JSON.stringify(name)} in ${dir}${hint}; create it with 'berth net create ${name}' or pass --cni-conf-dir`)
    this.network = name
  }
}
