// The CNI configuration envelope (SPEC.md section 1, CONVENTIONS.md) and the parse helpers every config.ts
// uses. Loose objects throughout: the spec says plugins ignore keys they do not know, and runtimes must
// pass them through. Error codes: bad JSON or a non-object → 6, a bad field → 7, a bad version → 1.
import * as z from 'zod/mini'
import { CniCode, CniError } from '../errors/cni-error.js'
import { decodeCanonical, decodeJson, decodeWith, typeName } from './decode.js'
import { canonicalise, exactKeys } from './go-keys.js'
import { type CniDns, type CniResult, DnsSchema, parsePrevResult } from './result.js'
import { checkSupported, compareVersions, CURRENT_VERSION } from './spec.js'
import { validateNetworkName } from './validate.js'

/** JSON text → value; CniError 6 saying what could not be parsed, e.g. "network configuration on stdin". */
export function parseJson(raw: string | Uint8Array, what: string): unknown {
  return decodeJson(raw, what)
}

/**
 * value → T; keys match the schema's fields as Go's encoding/json matches them (go-keys.ts). CniError 7
 * "invalid <what>: <path>: <problem>" naming the first bad key as the runtime spelled it, with one
 * "path: problem" line per issue in details.
 */
export function parseWith<T>(schema: z.core.$ZodType<T>, value: unknown, what: string): T {
  return decodeWith(schema, value, what, CniCode.InvalidConfig, 'invalid')
}

const opt = z.optional
const uint = z.int().check(z.minimum(0))
const port = z.int().check(z.minimum(0), z.maximum(65535))

/** A plugin `type` names an executable on CNI_PATH: the spec forbids path separators in it. */
export const PluginTypeSchema = z.string().check(
  z.minLength(1, 'must not be empty'),
  z.refine((s) => !s.includes('/') && !s.includes('\\'), 'must be a plugin name, not a path'),
)
export const IpamSchema = z.looseObject({ type: PluginTypeSchema })

// CONVENTIONS.md "Well-known Capabilities"; each plugin checks the values it uses more closely.
const PortMappingSchema = z.looseObject({ hostPort: port, containerPort: port, protocol: opt(z.string()), hostIP: opt(z.string()) })
const IpRangeSchema = z.looseObject({ subnet: z.string(), rangeStart: opt(z.string()), rangeEnd: opt(z.string()), gateway: opt(z.string()) })
const BandwidthSchema = z.looseObject({ ingressRate: opt(uint), ingressBurst: opt(uint), egressRate: opt(uint), egressBurst: opt(uint) })
const RuntimeDnsSchema = z.looseObject({ servers: opt(z.array(z.string())), searches: opt(z.array(z.string())), options: opt(z.array(z.string())), domain: opt(z.string()) })
export const RuntimeConfigSchema = z.looseObject({
  portMappings: opt(z.array(PortMappingSchema)),
  ips: opt(z.array(z.string())),
  mac: opt(z.string()),
  ipRanges: opt(z.array(z.array(IpRangeSchema))),
  bandwidth: opt(BandwidthSchema),
  dns: opt(RuntimeDnsSchema),
  aliases: opt(z.array(z.string())),
  deviceID: opt(z.string()),
  cgroupPath: opt(z.string()),
  infinibandGUID: opt(z.string()),
})

export interface PortMapping { hostPort: number; containerPort: number; protocol?: string; hostIP?: string; [k: string]: unknown }
export interface IpRange { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string; [k: string]: unknown }
export interface Bandwidth { ingressRate?: number; ingressBurst?: number; egressRate?: number; egressBurst?: number; [k: string]: unknown }
/** The runtime's `dns` capability (note: servers/searches, not the result's nameservers/search). */
export interface RuntimeDns { servers?: string[]; searches?: string[]; options?: string[]; domain?: string; [k: string]: unknown }
export interface RuntimeConfig {
  portMappings?: PortMapping[]
  ips?: string[]
  mac?: string
  ipRanges?: IpRange[][]
  bandwidth?: Bandwidth
  dns?: RuntimeDns
  aliases?: string[]
  deviceID?: string
  cgroupPath?: string
  infinibandGUID?: string
  [k: string]: unknown
}

/** One plugin object of a conflist (what a runtime reads from disk). */
export const PluginConfSchema = z.looseObject({
  type: PluginTypeSchema,
  capabilities: opt(z.record(z.string(), z.boolean())),
  ipam: opt(IpamSchema),
  dns: opt(DnsSchema),
})
interface PluginConfFields {
  capabilities?: Record<string, boolean>
  ipam?: { type: string; [k: string]: unknown }
  dns?: CniDns
  [k: string]: unknown
}
export interface PluginConf extends PluginConfFields {
  type: string
}

/** What a plugin reads on stdin: a plugin object plus what the runtime inserts. prevResult is checked by parseNetConf. */
export const NetConfSchema = z.extend(PluginConfSchema, {
  // cni's skel never reads `type` (the runtime already chose the executable by it): host-local run by hand
  // with only its ipam section works with the reference, so it must here.
  type: opt(PluginTypeSchema),
  cniVersion: z.string(),
  name: z.string(),
  args: opt(z.record(z.string(), z.unknown())),
  runtimeConfig: opt(RuntimeConfigSchema),
  // Go reads it into map[string]interface{} (RawPrevResult): an object's keys are kept and, sent under two
  // spellings, merged; anything else is left for parsePrevResult to refuse.
  prevResult: opt(z.union([z.record(z.string(), z.unknown()), z.unknown()])),
})
export interface NetConf extends PluginConfFields {
  type?: string
  cniVersion: string
  name: string
  args?: Record<string, unknown>
  runtimeConfig?: RuntimeConfig
  prevResult?: CniResult
}
// The schema's output must stay assignable to the hand-written interface (prevResult aside).
type Assignable<T extends U, U> = T
type _NetConfCheck = Assignable<Omit<z.output<typeof NetConfSchema>, 'prevResult'>, Omit<NetConf, 'prevResult'>>

export interface ParseNetConfOptions {
  /** Versions the plugin supports; SUPPORTED_VERSIONS by default. */
  supported?: readonly string[]
  /** Where the text came from, for JSON errors: "stdin" by default. */
  source?: string
}

/**
 * stdin → NetConf, in the order cni's skel and a Go plugin check things: JSON (6); a JSON object (6);
 * name present and valid (7); cniVersion supported (1; none means 0.1.0); the envelope (7); prevResult
 * into the canonical result (6, or 1 for a version of the other format family).
 */
export function parseNetConf(raw: string | Uint8Array, opts: ParseNetConfOptions = {}): NetConf {
  const obj = requireObject(parseJson(raw, `network configuration on ${opts.source ?? 'stdin'}`), 'network configuration')
  // skel reads name and cniVersion through structs too, so "Name" and "CNIVersion" count.
  const canonical = canonicalise(NetConfSchema, obj)
  const keys = canonical.value as Record<string, unknown>
  const name = keys['name']
  if (name === undefined || typeof name === 'string') validateNetworkName(name ?? '')
  const version = keys['cniVersion']
  // A non-string version is left to the envelope, which reports its type.
  if (version === undefined || typeof version === 'string') checkSupported(version ?? '', opts.supported)
  // An empty "ipam": {} is how the reference plugins' docs say "no IPAM" (a layer-2 attachment; Go reads it
  // as type ""): the same as leaving it out. An ipam with anything in it still needs its type.
  const ipam = keys['ipam']
  if (typeof ipam === 'object' && ipam !== null && !Array.isArray(ipam) && Object.keys(ipam).length === 0) delete keys['ipam']
  const parsed = decodeCanonical(NetConfSchema, canonical, 'network configuration', CniCode.InvalidConfig, 'invalid')
  const prev = parsed.prevResult
  // Not a copy without it: the parsed object remembers how the runtime spelled its keys (for messages).
  delete parsed.prevResult
  const conf = parsed as NetConf
  // null is "no prevResult", as in Go (RawPrevResult stays nil).
  if (prev !== undefined && prev !== null) conf.prevResult = parsePrevResult(prev, conf.cniVersion, opts.supported)
  return conf
}

function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  throw new CniError(CniCode.DecodingFailure, `failed to decode ${what}: expected object, received ${typeName(value)}`)
}

/** A GC attachment that is still valid. */
export interface Attachment { containerID: string; ifname: string }

const VALID_ATTACHMENTS = 'cni.dev/valid-attachments'
// The name SPEC.md first used; libcni still sends both (cni #1101).
const OLD_ATTACHMENTS = 'cni.dev/attachments'
const AttachmentsSchema = z.array(z.object({ containerID: z.string(), ifname: z.string() }))
// Both keys, unchecked: finds them under any spelling Go would accept; only the one used is then checked.
const AttachmentKeysSchema = z.looseObject({ [VALID_ATTACHMENTS]: opt(z.unknown()), [OLD_ATTACHMENTS]: opt(z.unknown()) })
const attachmentsUnder = (key: string) => z.looseObject({ [key]: AttachmentsSchema })
const AttachmentListSchemas = { [VALID_ATTACHMENTS]: attachmentsUnder(VALID_ATTACHMENTS), [OLD_ATTACHMENTS]: attachmentsUnder(OLD_ATTACHMENTS) }

/**
 * GC input. undefined when the runtime sent no list (null counts as none, as in Go): do nothing then.
 * [] means no attachment is valid. The spec's key wins over the old one. CniError 7 on a malformed list.
 */
export function validAttachments(conf: NetConf): Attachment[] | undefined {
  const keys = parseWith(AttachmentKeysSchema, conf, 'network configuration')
  for (const key of [VALID_ATTACHMENTS, OLD_ATTACHMENTS] as const) {
    const list = keys[key]
    if (list === undefined || list === null) continue
    return parseWith(AttachmentListSchemas[key], keys, 'network configuration')[key]
  }
  return undefined
}

/** A network configuration list, with cniVersion already chosen (SPEC "Version considerations"). */
export interface Conflist {
  cniVersion: string
  cniVersions?: string[]
  name: string
  disableCheck: boolean
  disableGC: boolean
  loadOnlyInlinedPlugins: boolean
  plugins: PluginConf[]
}

// libcni reads these flags as a JSON boolean or the string "true"/"false" in any case.
const flag = opt(z.union([z.boolean(), z.string().check(z.refine((s) => /^(true|false)$/i.test(s), 'expected true or false'))]))
// libcni reads the list's own keys from a map[string]interface{} by exact name ("Name" is not "name"); each
// plugin object goes through a struct (types.NetConf), so its keys match as Go's decoder matches them.
const ConflistSchema = exactKeys(z.looseObject({
  cniVersion: opt(z.string()),
  cniVersions: opt(z.array(z.string())),
  name: z.string(),
  disableCheck: flag,
  disableGC: flag,
  loadOnlyInlinedPlugins: flag,
  plugins: opt(z.array(PluginConfSchema)),
}))
const asFlag = (v: boolean | string | undefined): boolean => (typeof v === 'string' ? v.toLowerCase() === 'true' : (v ?? false))

/**
 * A .conflist file → Conflist, as libcni's NetworkConfFromBytes reads it: the name must be valid; the
 * version is the highest of cniVersion and cniVersions that is not newer than CURRENT_VERSION (cniVersion
 * as given when cniVersions is absent); `plugins` may be missing only when loadOnlyInlinedPlugins is false
 * (the runtime then loads <dir>/<name>/*.conf itself), and may not be empty. CniError 6 for JSON, 7 otherwise.
 */
export function parseConflist(raw: string | Uint8Array, source = 'conflist'): Conflist {
  const what = 'network configuration list'
  const obj = requireObject(parseJson(raw, `${what} in ${source}`), what)
  const c = parseWith(ConflistSchema, obj, what)
  validateNetworkName(c.name)
  const bad = (msg: string) => new CniError(CniCode.InvalidConfig, `invalid ${what}: ${msg}`)
  const loadOnlyInlinedPlugins = asFlag(c.loadOnlyInlinedPlugins)
  if (c.plugins === undefined && loadOnlyInlinedPlugins) throw bad("plugins: missing, and loadOnlyInlinedPlugins is true")
  if (c.plugins?.length === 0) throw bad('plugins: no plugins in list')
  const cniVersion = selectVersion(c.cniVersion, c.cniVersions, bad)
  if (cniVersion === undefined) throw bad('cniVersion: missing')
  const list: Conflist = {
    cniVersion,
    name: c.name,
    disableCheck: asFlag(c.disableCheck),
    disableGC: asFlag(c.disableGC),
    loadOnlyInlinedPlugins,
    plugins: c.plugins ?? [],
  }
  if (c.cniVersions !== undefined) list.cniVersions = c.cniVersions
  return list
}

function selectVersion(given: string | undefined, versions: string[] | undefined, bad: (msg: string) => CniError): string | undefined {
  const single = given === '' ? undefined : given
  if (versions === undefined) return single
  const candidates = versions.map((v, i): [string, string] => [`cniVersions[${i}]`, v])
  if (single !== undefined) candidates.push(['cniVersion', single])
  const usable: string[] = []
  for (const [where, v] of candidates) {
    try {
      if (compareVersions(v, CURRENT_VERSION) <= 0) usable.push(v)
    } catch (e) {
      throw bad(`${where}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  // libcni: when every candidate is newer than this implementation, cniVersion stays as given.
  return usable.sort(compareVersions).at(-1) ?? single
}
