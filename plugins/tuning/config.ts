// The tuning plugin's configuration: the reference keys (sysctl, mac, promisc, allmulti, mtu, txQLen,
// dataDir), the `mac` capability (runtimeConfig.mac), CNI_ARGS MAC and the args.cni overrides, parsed into
// a typed TuningConfig before anything is touched. Precedence for the MAC, as in the reference:
// config "mac" < CNI_ARGS MAC < runtimeConfig.mac < args.cni.mac. args.cni.sysctl adds to (and overrides
// keys of) "sysctl". Every sysctl key is checked here: net.* only, no traversal (CniError 7).
import * as z from 'zod/mini'
import { checkCniArgs } from '../../pkg/cni/args.js'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { sysctlPath } from '../../pkg/sysctl/sysctl.js'

/** The reference's default; berth's state files keep the reference's fields, so either can restore. */
export const DEFAULT_DATA_DIR = '/run/cni/tuning'
/** CNI_ARGS keys the plugin reads. */
export const KNOWN_CNI_ARGS = ['MAC'] as const

export interface TuningConfig {
  netConf: NetConf
  /** [key, value] in configuration order; keys already validated (net.* only) */
  sysctl: [string, string][]
  /** lower-case "aa:bb:cc:dd:ee:ff" */
  mac: string | undefined
  promisc: boolean | undefined
  allmulti: boolean | undefined
  mtu: number | undefined
  txQLen: number | undefined
  dataDir: string
}

const opt = z.optional
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
const mac = z.string().check(
  z.refine((s) => MAC.test(s), 'expected a MAC address like 02:42:ac:11:00:02'),
  z.refine((s) => MAC.test(s) && (parseInt(s.slice(0, 2), 16) & 1) === 0, 'must be a unicast MAC address'),
)
// 0 means "not set", as in the reference (its Go int zero value).
const mtu = z.int().check(z.refine((n) => n === 0 || (n >= 68 && n <= 65535), 'must be 0 (unset) or between 68 and 65535'))
const txQLen = z.int().check(z.minimum(0), z.maximum(0xffffffff))
const sysctlMap = z.record(z.string(), z.string())

const TunableSchema = {
  sysctl: opt(z.nullable(sysctlMap)),
  mac: opt(mac),
  promisc: opt(z.boolean()),
  allmulti: opt(z.boolean()),
  mtu: opt(mtu),
  txQLen: opt(txQLen),
}

export const TuningConfigSchema = z.looseObject({
  ...TunableSchema,
  mac: opt(z.string().check(z.refine((s) => s === '' || MAC.test(s), 'expected a MAC address like 02:42:ac:11:00:02'))),
  dataDir: opt(
    z.string().check(
      z.refine((s) => s === '' || (s.startsWith('/') && !s.includes('\0') && !s.split('/').some((c) => c === '..' || c === '.')), 'must be an absolute path without "." or ".." components'),
    ),
  ),
  runtimeConfig: opt(z.looseObject({ mac: opt(z.string().check(z.refine((s) => s === '' || MAC.test(s), 'expected a MAC address like 02:42:ac:11:00:02'))) })),
  args: opt(z.looseObject({ cni: opt(z.looseObject(TunableSchema)) })),
})

export interface ParseOptions {
  /** false for DEL and GC: only dataDir matters there, so a bad tunable must not block cleanup */
  strict?: boolean
}

export function parseTuningConfig(netConf: NetConf, cniArgs: ReadonlyMap<string, string>, opts: ParseOptions = {}): TuningConfig {
  const strict = opts.strict ?? true
  const c = parseWith(TuningConfigSchema, netConf, 'network configuration')
  const dataDir = c.dataDir === undefined || c.dataDir === '' ? DEFAULT_DATA_DIR : c.dataDir
  if (!strict) return { netConf, sysctl: [], mac: undefined, promisc: undefined, allmulti: undefined, mtu: undefined, txQLen: undefined, dataDir }

  checkCniArgs(cniArgs, KNOWN_CNI_ARGS)
  const a = c.args?.cni
  const sysctl = new Map<string, string>(Object.entries(c.sysctl ?? {}))
  for (const [k, v] of Object.entries(a?.sysctl ?? {})) sysctl.set(k, v)
  for (const [k, v] of sysctl) {
    sysctlPath(k, { netOnly: true })
    if (/[\n\0]/.test(v)) throw new CniError(CniCode.InvalidConfig, `invalid value for sysctl "${k}": it must be a single line`)
  }

  let macAddr = c.mac === '' ? undefined : c.mac
  const envMac = cniArgs.get('MAC')
  if (envMac !== undefined && envMac !== '') {
    if (!MAC.test(envMac)) throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: MAC "${envMac}" is not a MAC address like 02:42:ac:11:00:02`)
    macAddr = envMac
  }
  if (c.runtimeConfig?.mac !== undefined && c.runtimeConfig.mac !== '') macAddr = c.runtimeConfig.mac
  if (a?.mac !== undefined) macAddr = a.mac
  if (macAddr !== undefined && (parseInt(macAddr.slice(0, 2), 16) & 1) !== 0) {
    throw new CniError(CniCode.InvalidConfig, `invalid MAC address "${macAddr}": must be a unicast address`)
  }

  const pick = <T>(over: T | undefined, base: T | undefined): T | undefined => (over !== undefined ? over : base)
  const m = pick(a?.mtu, c.mtu)
  const promisc = pick(a?.promisc, c.promisc)
  return {
    netConf,
    sysctl: [...sysctl],
    mac: macAddr?.toLowerCase(),
    // The reference only acts on promisc: true; an explicit false is applied too (it is what was asked).
    promisc,
    allmulti: pick(a?.allmulti, c.allmulti),
    mtu: m === 0 ? undefined : m,
    txQLen: pick(a?.txQLen, c.txQLen),
    dataDir,
  }
}

/** True when ADD changes an interface attribute (and so saves the originals). */
export function changesLink(cfg: TuningConfig): boolean {
  return cfg.mac !== undefined || cfg.promisc !== undefined || cfg.allmulti !== undefined || cfg.mtu !== undefined || cfg.txQLen !== undefined
}
