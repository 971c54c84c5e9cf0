// CNI ADD results. In memory there is one shape, the 1.x one (CniResult); parseResult reads any supported
// version into it and convertResult prints it for any supported version. What changes between versions is
// exactly what cni's types/040 and types/100 converters change:
//   0.3.0, 0.3.1, 0.4.0  one format: ips[].version ("4"/"6"); interfaces carry only name, mac, sandbox;
//                        "dns" is always printed (Go never omits the struct), {} when empty.
//   1.0.0, 1.1.0         one format: no ips[].version; interfaces add mtu, socketPath, pciID; empty dns omitted.
// Routes are one shared Go type in every version, so route mtu/advmss/priority/table/scope (spec 1.1.0)
// survive conversion to 1.0.0 and to 0.x, as they do in the reference.
import * as z from 'zod/mini'
import { CniCode, CniError } from '../errors/cni-error.js'
import { decodeCanonical, decodeJson, formatPath, typeName } from './decode.js'
import { canonicalise, decodedWhole, keyAsSent } from './go-keys.js'
import { canonicalCidr, canonicalIp, isCidr, isIp } from './ip-text.js'
import { checkSupported, compareVersions, SUPPORTED_VERSIONS } from './spec.js'

export interface CniInterface { name: string; mac?: string; mtu?: number; sandbox?: string; socketPath?: string; pciID?: string }
export interface CniIpConfig { address: string; gateway?: string; interface?: number }
export interface CniRoute { dst: string; gw?: string; mtu?: number; advmss?: number; priority?: number; table?: number; scope?: number }
export interface CniDns { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] }
export interface CniResult { cniVersion: string; interfaces?: CniInterface[]; ips?: CniIpConfig[]; routes?: CniRoute[]; dns?: CniDns }

export interface ParseResultOptions {
  /** Version to assume when the result has no (or an empty) cniVersion: cni's invoke uses the config's. */
  fallbackVersion?: string
  supported?: readonly string[]
}

/** Results before 1.0.0 use the 0.3/0.4 format. */
export const isLegacyResultVersion = (version: string): boolean => compareVersions(version, '1.0.0') < 0

// The spec says uint; Go's int would also take negatives, which no kernel field accepts.
const uint = z.int().check(z.minimum(0))
// "" is how Go spells "no gateway" (net.IP reads it as nil).
const ipOrEmpty = z.string().check(z.refine((s) => s === '' || isIp(s), 'expected an IP address'))
const cidr = z.string().check(z.refine(isCidr, 'expected an IP address with prefix length (CIDR)'))
const opt = z.optional

export const DnsSchema = z.object({
  nameservers: opt(z.array(z.string())),
  domain: opt(z.string()),
  search: opt(z.array(z.string())),
  options: opt(z.array(z.string())),
})
// cni's Route and IPConfig have their own UnmarshalJSON: sent twice, the later one replaces the earlier.
const RouteSchema = decodedWhole(z.object({
  dst: cidr, gw: opt(ipOrEmpty), mtu: opt(uint), advmss: opt(uint), priority: opt(uint), table: opt(uint), scope: opt(uint),
}))
const Ip1Schema = decodedWhole(z.object({ address: cidr, gateway: opt(ipOrEmpty), interface: opt(uint) }))
const Ip0Schema = decodedWhole(z.extend(Ip1Schema, { version: opt(z.enum(['4', '6'])) }))
// Unknown keys are dropped, as Go's decoder drops them: a 0.x interface's "mtu" is not part of 0.x.
const Interface0Schema = z.object({ name: z.string(), mac: opt(z.string()), sandbox: opt(z.string()) })
const Interface1Schema = z.extend(Interface0Schema, { mtu: opt(uint), socketPath: opt(z.string()), pciID: opt(z.string()) })
// Key order is issue order: report fields in the order a result lists them.
const tail = { routes: opt(z.array(RouteSchema)), dns: opt(DnsSchema) }
const Result0Schema = z.object({ cniVersion: z.string(), interfaces: opt(z.array(Interface0Schema)), ips: opt(z.array(Ip0Schema)), ...tail })
const Result1Schema = z.object({ cniVersion: z.string(), interfaces: opt(z.array(Interface1Schema)), ips: opt(z.array(Ip1Schema)), ...tail })
// Just the version, found under any spelling before the format is known.
const VersionSchema = z.looseObject({ cniVersion: opt(z.unknown()) })
type ParsedIp = z.output<typeof Ip0Schema>
// Both formats read into the wider one (the 0.x interface simply lacks the 1.x-only keys).
type Parsed = Omit<z.output<typeof Result1Schema>, 'ips'> & { ips?: ParsedIp[] | undefined }

/**
 * Reads a result of any supported version (a parsed value, or JSON text/bytes) into the canonical shape:
 * addresses in Go's canonical text, zero/empty "unset" values (Go's omitempty) removed, ips[].version
 * dropped after checking it against the address.
 * CniError 6 for bad JSON or a bad field (message names `what` and the field), 1 for an unsupported cniVersion.
 */
export function parseResult(raw: unknown, what = 'result', opts: ParseResultOptions = {}): CniResult {
  const value = typeof raw === 'string' || raw instanceof Uint8Array ? decodeJson(raw, what) : raw
  return decodeResult(requireObject(value, what), what, opts, false)
}

/**
 * prevResult inside a config of `confVersion` (cni's version.ParsePrevResult): no cniVersion means the
 * config's; otherwise it must be a version of the same format family (a 1.x config takes a 1.0.0 or 1.1.0
 * result, a 0.x config a 0.3.0, 0.3.1 or 0.4.0 one), else CniError 1.
 */
export function parsePrevResult(raw: unknown, confVersion: string, supported?: readonly string[]): CniResult {
  const obj = requireObject(raw, 'prevResult')
  // cni sets "CNIVersion" (that spelling, its quirk) to the config's version unless the map has it, then
  // marshals the map, which sorts its keys: a "cniVersion" of the result (sorting later) still wins.
  if (obj['CNIVersion'] === undefined || obj['CNIVersion'] === '') obj['CNIVersion'] = confVersion
  const known = supported ?? SUPPORTED_VERSIONS
  const opts: ParseResultOptions = { fallbackVersion: confVersion, ...(supported === undefined ? {} : { supported }) }
  return decodeResult(obj, 'prevResult', opts, true, (v) => {
    // Unsupported or malformed versions are left to decodeResult, which reports them as such.
    if (known.includes(v) && isLegacyResultVersion(v) !== isLegacyResultVersion(confVersion)) {
      throw new CniError(CniCode.IncompatibleVersion, `incompatible CNI versions: prevResult is ${JSON.stringify(v)} but config is ${JSON.stringify(confVersion)}; a ${isLegacyResultVersion(confVersion) ? '0.x config needs a 0.3.0, 0.3.1 or 0.4.0' : '1.x config needs a 1.0.0 or 1.1.0'} result`)
    }
  })
}

/**
 * `obj` (a copy this module owns) → the canonical result. `sorted`: keys in Go's map order, for a result Go
 * has been through a map[string]interface{} (prevResult). `stated` sees the version the result names.
 */
function decodeResult(obj: Record<string, unknown>, what: string, opts: ParseResultOptions, sorted: boolean, stated?: (v: string) => void): CniResult {
  const top = canonicalise(VersionSchema, obj, { sortedKeys: sorted }).value
  const given = (top as Record<string, unknown>)['cniVersion']
  if (given !== undefined && typeof given !== 'string') {
    throw decodeError(what, [keyAsSent(top, 'cniVersion')], `expected string, received ${typeName(given)}`)
  }
  if (given !== undefined) stated?.(given)
  const version = (given === undefined || given === '' ? opts.fallbackVersion : given) ?? ''
  checkSupported(version, opts.supported, what)
  const schema = isLegacyResultVersion(version) ? Result0Schema : Result1Schema
  const c = canonicalise(schema, obj, { sortedKeys: sorted })
  // Set after key matching, so no other spelling of the key can undo it; the value is a copy (requireObject).
  ;(c.value as Record<string, unknown>)['cniVersion'] = version
  return canonical(decodeCanonical<Parsed>(schema, c, what, CniCode.DecodingFailure, 'failed to decode'), what)
}

/**
 * The JSON object to print for `toVersion` (its cniVersion set to toVersion), from a canonical result. It
 * trusts its input (built by plugin code or by parseResult) and applies Go's omitempty rules to it.
 * CniError 1 for an unsupported target.
 */
export function convertResult(result: CniResult, toVersion: string): Record<string, unknown> {
  checkSupported(toVersion, SUPPORTED_VERSIONS, 'the requested result')
  const legacy = isLegacyResultVersion(toVersion)
  const out: Record<string, unknown> = { cniVersion: toVersion }
  if (result.interfaces?.length) out['interfaces'] = result.interfaces.map((i) => interfaceOut(i, legacy))
  if (result.ips?.length) out['ips'] = result.ips.map((ip) => ipOut(ip, legacy))
  if (result.routes?.length) out['routes'] = result.routes.map(routeOut)
  const dns = result.dns === undefined ? undefined : dnsOut(result.dns)
  if (dns !== undefined) out['dns'] = dns
  else if (legacy) out['dns'] = {}
  return out
}

function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw decodeError(what, [], `expected object, received ${typeName(value)}`)
  }
  return dropNulls(value as Record<string, unknown>)
}

// Go's decoder reads null as "not set" for every field a result has; do the same before the schema.
function dropNulls(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    if (v === null) continue
    out[k] = Array.isArray(v) ? v.map((e: unknown) => (isPlainObject(e) ? dropNulls(e) : e)) : isPlainObject(v) ? dropNulls(v) : v
  }
  return out
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function decodeError(what: string, path: readonly PropertyKey[], msg: string): CniError {
  const line = path.length === 0 ? msg : `${formatPath(path)}: ${msg}`
  return new CniError(CniCode.DecodingFailure, `failed to decode ${what}: ${line}`, line)
}

function canonical(p: Parsed, what: string): CniResult {
  const out: CniResult = { cniVersion: p.cniVersion }
  const ifaces = (p.interfaces ?? []).map((i): CniInterface => {
    const r: CniInterface = { name: i.name }
    setStr(r, 'mac', i.mac)
    if (i.mtu) r.mtu = i.mtu
    setStr(r, 'sandbox', i.sandbox)
    setStr(r, 'socketPath', i.socketPath)
    setStr(r, 'pciID', i.pciID)
    return r
  })
  if (ifaces.length > 0) out.interfaces = ifaces
  const ips = (p.ips ?? []).map((ip: ParsedIp, idx) => canonicalIpConfig(ip, idx, ifaces.length, what))
  if (ips.length > 0) out.ips = ips
  const routes = (p.routes ?? []).map((rt): CniRoute => {
    const r: CniRoute = { dst: canonicalCidrText(rt.dst) }
    if (rt.gw) r.gw = canonicalIpText(rt.gw)
    if (rt.mtu) r.mtu = rt.mtu
    if (rt.advmss) r.advmss = rt.advmss
    if (rt.priority) r.priority = rt.priority
    // table and scope are pointers in Go: 0 is a real value (main table aside, scope 0 is "global").
    if (rt.table !== undefined) r.table = rt.table
    if (rt.scope !== undefined) r.scope = rt.scope
    return r
  })
  if (routes.length > 0) out.routes = routes
  const dns = p.dns === undefined ? undefined : dnsOut(p.dns)
  if (dns !== undefined) out.dns = dns
  return out
}

function canonicalIpConfig(ip: ParsedIp, idx: number, interfaces: number, what: string): CniIpConfig {
  const addr = canonicalCidr(ip.address)
  if (addr === undefined) throw decodeError(what, ['ips', idx, 'address'], 'expected an IP address with prefix length (CIDR)')
  if (ip.version !== undefined && ip.version !== String(addr.family)) {
    throw decodeError(what, ['ips', idx, 'version'], `${JSON.stringify(ip.version)} does not match address ${addr.text}`)
  }
  const r: CniIpConfig = { address: addr.text }
  if (ip.gateway) r.gateway = canonicalIpText(ip.gateway)
  if (ip.interface !== undefined) {
    // Delegated (IPAM) results have no interfaces, so any index there is out of range too.
    if (ip.interface >= interfaces) {
      throw decodeError(what, ['ips', idx, 'interface'], `index ${ip.interface} is out of range (${interfaces} interface${interfaces === 1 ? '' : 's'})`)
    }
    r.interface = ip.interface
  }
  return r
}

// Inputs reaching these were accepted by the schema's isIp/isCidr, so the fallbacks never apply.
const canonicalIpText = (s: string): string => canonicalIp(s)?.text ?? s
const canonicalCidrText = (s: string): string => canonicalCidr(s)?.text ?? s

function setStr<K extends 'mac' | 'sandbox' | 'socketPath' | 'pciID'>(r: CniInterface, key: K, v: string | undefined): void {
  if (v) r[key] = v
}

function interfaceOut(i: CniInterface, legacy: boolean): Record<string, unknown> {
  const r: Record<string, unknown> = { name: i.name }
  if (i.mac) r['mac'] = i.mac
  if (!legacy && i.mtu) r['mtu'] = i.mtu
  if (i.sandbox) r['sandbox'] = i.sandbox
  if (!legacy && i.socketPath) r['socketPath'] = i.socketPath
  if (!legacy && i.pciID) r['pciID'] = i.pciID
  return r
}

function ipOut(ip: CniIpConfig, legacy: boolean): Record<string, unknown> {
  const r: Record<string, unknown> = {}
  if (legacy) r['version'] = String(canonicalCidr(ip.address)?.family ?? (ip.address.includes(':') ? 6 : 4))
  if (ip.interface !== undefined) r['interface'] = ip.interface
  r['address'] = ip.address
  if (ip.gateway) r['gateway'] = ip.gateway
  return r
}

function routeOut(rt: CniRoute): Record<string, unknown> {
  const r: Record<string, unknown> = { dst: rt.dst }
  if (rt.gw) r['gw'] = rt.gw
  if (rt.mtu) r['mtu'] = rt.mtu
  if (rt.advmss) r['advmss'] = rt.advmss
  if (rt.priority) r['priority'] = rt.priority
  if (rt.table !== undefined) r['table'] = rt.table
  if (rt.scope !== undefined) r['scope'] = rt.scope
  return r
}

/** DNS with empty parts removed (cni's DNS.Copy + omitempty); undefined when nothing is left (DNS.IsEmpty). */
function dnsOut(d: CniDns): CniDns | undefined {
  const r: CniDns = {}
  if (d.nameservers?.length) r.nameservers = [...d.nameservers]
  if (d.domain) r.domain = d.domain
  if (d.search?.length) r.search = [...d.search]
  if (d.options?.length) r.options = [...d.options]
  return Object.keys(r).length === 0 ? undefined : r
}
