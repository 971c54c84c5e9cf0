// The macvlan plugin's configuration: the reference's keys (master, mode, mtu, mac, linkInContainer,
// bcqueuelen, the mac capability) and MAC in CNI_ARGS, parsed into a typed MacvlanConfig before anything
// is touched. Unknown keys are ignored (the spec says so); a key of the wrong type or with an impossible
// value is CniError 7 naming it. Whether the master exists, and its MTU, is master.ts's business.
import * as z from 'zod/mini'
import { checkCniArgs } from '../../../pkg/cni/args.js'
import { parseWith, type NetConf } from '../../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'

export const MODES = ['bridge', 'private', 'vepa', 'passthru'] as const
export type Mode = (typeof MODES)[number]
/** CNI_ARGS keys the macvlan knows: MAC (its own) and IP (read by the IPAM plugin it delegates to). */
export const KNOWN_CNI_ARGS = ['MAC', 'IP'] as const

export interface MacvlanConfig {
  /** the envelope as skel parsed it (name, cniVersion, ipam, dns, prevResult) */
  netConf: NetConf
  /** undefined: the interface of the default route (in the container's namespace with linkInContainer) */
  master: string | undefined
  mode: Mode
  /** undefined: the kernel's choice (the master's MTU) */
  mtu: number | undefined
  /** runtimeConfig.mac, else CNI_ARGS MAC, else the `mac` key (the reference's order); undefined: random */
  mac: string | undefined
  /** the master is in the container's namespace, and the macvlan is made there */
  linkInContainer: boolean
  /** IFLA_MACVLAN_BC_QUEUE_LEN; undefined: the kernel's default */
  bcQueueLen: number | undefined
  /** IPAM is configured (layer 3); otherwise the interface only comes up (layer 2) */
  layer3: boolean
}

const opt = z.optional
const IFNAME = /^[^\s/:\0]{1,15}$/
const MAC = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/
const MAC_HINT = 'expected a unicast MAC address like 02:42:ac:11:00:02'
// The kernel refuses a multicast or all-zero address on a macvlan (EADDRNOTAVAIL); say so before trying.
const isUnicastMac = (s: string) => MAC.test(s) && (parseInt(s.slice(0, 2), 16) & 1) === 0 && !/^(00[:-]){5}00$/.test(s)
const macString = z.string().check(z.refine((s) => s === '' || isUnicastMac(s), MAC_HINT))

export const MacvlanConfigSchema = z.looseObject({
  master: opt(z.string().check(z.refine((s) => s === '' || (IFNAME.test(s) && s !== '.' && s !== '..'), 'must be an interface name of 1 to 15 characters without "/", ":" or spaces'))),
  mode: opt(z.string().check(z.refine((s) => s === '' || (MODES as readonly string[]).includes(s), `must be one of ${MODES.join(', ')}`))),
  // 0 means "not set", as in the reference.
  mtu: opt(z.int().check(z.refine((n) => n === 0 || (n >= 68 && n <= 65535), 'must be 0 (unset) or between 68 and 65535'))),
  mac: opt(macString),
  linkInContainer: opt(z.boolean()),
  bcqueuelen: opt(z.int().check(z.minimum(0), z.maximum(0xffffffff))),
  runtimeConfig: opt(z.looseObject({ mac: opt(macString) })),
})

/** NetConf (already checked by skel) plus CNI_ARGS → MacvlanConfig; CniError 7 (4 for CNI_ARGS) naming the key. */
export function parseMacvlanConfig(conf: NetConf, cniArgs: ReadonlyMap<string, string>): MacvlanConfig {
  const c = parseWith(MacvlanConfigSchema, conf, 'network configuration')
  checkCniArgs(cniArgs, KNOWN_CNI_ARGS)
  let mac = nonEmpty(c.mac)
  const envMac = nonEmpty(cniArgs.get('MAC'))
  if (envMac !== undefined) {
    if (!isUnicastMac(envMac)) throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: MAC ${JSON.stringify(envMac)}: ${MAC_HINT}`)
    mac = envMac
  }
  mac = nonEmpty(c.runtimeConfig?.mac) ?? mac
  return {
    netConf: conf,
    master: nonEmpty(c.master),
    mode: (nonEmpty(c.mode) ?? 'bridge') as Mode,
    mtu: c.mtu === undefined || c.mtu === 0 ? undefined : c.mtu,
    mac: mac?.toLowerCase().replace(/-/g, ':'),
    linkInContainer: c.linkInContainer ?? false,
    bcQueueLen: c.bcqueuelen === undefined || c.bcqueuelen === 0 ? undefined : c.bcqueuelen,
    layer3: (conf.ipam?.type ?? '') !== '',
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}
