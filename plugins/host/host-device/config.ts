// The host-device plugin's configuration: the reference keys (device, hwaddr, kernelpath, pciBusID, and
// the deviceID runtime capability) plus berth's stateDir. Parsed into a typed HostDeviceConfig before
// anything is touched; a bad or missing selector is CniError 7 naming the key.
import * as z from 'zod/mini'
import { canonicalise } from '../../../pkg/cni/go-keys.js'
import { parseWith, type NetConf } from '../../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'

/** Where ADD records what DEL must restore, one directory per network. */
export const DEFAULT_STATE_DIR = '/var/lib/cni/berth/host-device'
/** Overrides DEFAULT_STATE_DIR when the config has no `stateDir` (tests, unusual hosts). */
export const STATE_DIR_ENV = 'BERTH_HOST_DEVICE_STATE_DIR'

export const SELECTOR_KEYS = ['device', 'hwaddr', 'kernelpath', 'pciBusID'] as const
export type SelectorKey = (typeof SELECTOR_KEYS)[number]

/** How the host device is chosen; `fromDeviceId` when the runtime's deviceID capability supplied it. */
export type Selector =
  | { by: 'device'; value: string }
  | { by: 'hwaddr'; value: string }
  | { by: 'kernelpath'; value: string }
  | { by: 'pciBusID'; value: string; fromDeviceId: boolean }

export interface HostDeviceConfig {
  netConf: NetConf
  /** undefined only on DEL, which does not need it (it reads its state file) */
  selector: Selector | undefined
  stateDir: string
  /** IPAM is configured: ADD runs it, DEL releases it */
  ipam: boolean
}

const IFNAME = /^[^\s/:\0]{1,15}$/
const MAC = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/
// PCI address "domain:bus:device.function" (0000:03:00.1); deviceID may also name an auxiliary device.
const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,255}$/
const nonEmpty = z.string().check(z.minLength(1, 'must not be empty'))

export const HostDeviceConfigSchema = z.looseObject({
  device: z.optional(z.string().check(z.regex(IFNAME, 'must be an interface name (1-15 bytes, no "/", ":" or whitespace)'))),
  hwaddr: z.optional(z.string().check(z.regex(MAC, 'must be a MAC address like 02:00:00:00:00:01'))),
  kernelpath: z.optional(
    nonEmpty.check(
      z.refine((s) => s.startsWith('/sys/devices/') && !s.split('/').includes('..') && !s.includes('\0'), 'must be an absolute path under /sys/devices/'),
    ),
  ),
  pciBusID: z.optional(z.string().check(z.regex(DEVICE_ID, 'must be a PCI address like 0000:03:00.1'))),
  stateDir: z.optional(nonEmpty.check(z.refine((s) => s.startsWith('/') && !s.includes('\0'), 'must be an absolute path'))),
  runtimeConfig: z.optional(z.looseObject({ deviceID: z.optional(z.string().check(z.regex(DEVICE_ID, 'must be a PCI address or device id'))) })),
})

export interface ParseOptions {
  /** DEL: a missing or ambiguous selector is not an error (DEL works from its state file) */
  lenient?: boolean
  env?: Readonly<Record<string, string | undefined>>
}

/**
 * The envelope → HostDeviceConfig. The reference's rule for deviceID: it replaces pciBusID. After that
 * exactly one of device, hwaddr, kernelpath, pciBusID must be given (the reference silently picks the
 * first in that order; berth refuses the ambiguity).
 */
export function parseHostDeviceConfig(conf: NetConf, opts: ParseOptions = {}): HostDeviceConfig {
  const c = opts.lenient ? lenientParse(conf) : parseWith(HostDeviceConfigSchema, conf, 'host-device configuration')
  const deviceId = c.runtimeConfig?.deviceID
  const given: Partial<Record<SelectorKey, string>> = {}
  for (const k of SELECTOR_KEYS) {
    const v = c[k]
    if (v !== undefined && v !== '') given[k] = v
  }
  if (deviceId !== undefined && deviceId !== '') given.pciBusID = deviceId
  const keys = Object.keys(given) as SelectorKey[]
  let selector: Selector | undefined
  if (keys.length === 1) {
    const by = keys[0] as SelectorKey
    const value = given[by] as string
    selector = by === 'pciBusID' ? { by, value, fromDeviceId: deviceId !== undefined && deviceId !== '' } : { by, value }
  } else if (!opts.lenient) {
    if (keys.length === 0) {
      throw new CniError(CniCode.InvalidConfig, 'invalid host-device configuration: specify one of "device", "hwaddr", "kernelpath" or "pciBusID" (or the deviceID capability)')
    }
    const shown = keys.map((k) => (k === 'pciBusID' && deviceId ? 'runtimeConfig.deviceID' : k))
    throw new CniError(CniCode.InvalidConfig, `invalid host-device configuration: specify only one of "device", "hwaddr", "kernelpath" or "pciBusID"; got ${shown.join(', ')}`)
  }
  return {
    netConf: conf,
    selector,
    stateDir: c.stateDir ?? nonEmptyEnv(opts.env?.[STATE_DIR_ENV]) ?? DEFAULT_STATE_DIR,
    ipam: conf.ipam !== undefined && conf.ipam.type !== '',
  }
}

function nonEmptyEnv(v: string | undefined): string | undefined {
  return v !== undefined && v.startsWith('/') ? v : undefined
}

type Parsed = z.output<typeof HostDeviceConfigSchema>

/** DEL: keep the keys that parse, drop the rest (the state file knows the device). stateDir still must be valid. */
function lenientParse(conf: NetConf): Parsed {
  const out: Record<string, unknown> = {}
  const shape = HostDeviceConfigSchema.def.shape
  // the keys under whatever spelling the runtime used, as the full parse would find them
  const given = canonicalise(HostDeviceConfigSchema, conf).value as Record<string, unknown>
  for (const key of Object.keys(shape) as (keyof typeof shape)[]) {
    const v = given[key]
    if (v === undefined) continue
    const r = z.safeParse(shape[key], v)
    if (r.success) out[key] = r.data
    else if (key === 'stateDir') parseWith(HostDeviceConfigSchema, conf, 'host-device configuration')
  }
  return out as Parsed
}

/** The selector as text for messages: `device "eth1"`, `hwaddr 02:..`, `pciBusID 0000:03:00.1`. */
export function describeSelector(s: Selector): string {
  if (s.by === 'pciBusID' && s.fromDeviceId) return `deviceID ${JSON.stringify(s.value)}`
  return `${s.by} ${JSON.stringify(s.value)}`
}
