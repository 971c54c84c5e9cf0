// The bridge plugin's configuration: every key of the reference CNI bridge, with its defaults, parsed
// into a typed BridgeConfig before anything is touched. Unknown keys are ignored (the spec says so); a key
// of the wrong type or with an impossible value is CniError 7 naming the key.
import * as z from 'zod/mini'
import { checkCniArgs } from '../../pkg/cni/args.js'
import { isCidr, isIp } from '../../pkg/cni/ip-text.js'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'

export const DEFAULT_BRIDGE = 'cni0'
export const IPMASQ_BACKENDS = ['nftables', 'iptables'] as const
export type IpMasqBackend = (typeof IPMASQ_BACKENDS)[number]
/** berth's default; the reference picks iptables when the host already has iptables rules. */
export const DEFAULT_IPMASQ_BACKEND: IpMasqBackend = 'nftables'

/** CNI_ARGS keys the bridge knows: MAC (its own) and IP (read by the IPAM plugin it delegates to). */
export const KNOWN_CNI_ARGS = ['MAC', 'IP'] as const

export interface BridgeConfig {
  /** the envelope as skel parsed it (name, cniVersion, ipam, dns, prevResult) */
  netConf: NetConf
  bridge: string
  /** true also when only isDefaultGateway is set (the reference implies it) */
  isGateway: boolean
  isDefaultGateway: boolean
  forceAddress: boolean
  ipMasq: boolean
  ipMasqBackend: IpMasqBackend
  /** undefined: the kernel's default (the reference's 0) */
  mtu: number | undefined
  hairpinMode: boolean
  promiscMode: boolean
  /** 0: no VLAN */
  vlan: number
  preserveDefaultVlan: boolean
  /** trunk VLAN ids, sorted and without duplicates; empty when none */
  vlanTrunk: number[]
  macspoofchk: boolean
  enabledad: boolean
  disableContainerInterface: boolean
  portIsolation: boolean
  /** the container interface's MAC: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC */
  mac: string | undefined
  /** the `ips` capability, for the IPAM plugin (which reads it from stdin itself) */
  ips: string[]
  /** IPAM is configured (layer 3); otherwise the container interface only comes up (layer 2) */
  layer3: boolean
}

const opt = z.optional
const bool = opt(z.boolean())
const IFNAME = /^[^\s/:\0]{1,15}$/
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
const isMac = (s: string) => MAC.test(s)
const vlanId = z.int().check(z.minimum(1), z.maximum(4094))

const VlanTrunkSchema = z.looseObject({ minID: opt(vlanId), maxID: opt(vlanId), id: opt(vlanId) })

export const BridgeConfigSchema = z.looseObject({
  bridge: opt(
    z.string().check(z.refine((s) => s === '' || (IFNAME.test(s) && s !== '.' && s !== '..'), 'must be an interface name of 1 to 15 characters without "/", ":" or spaces')),
  ),
  isGateway: bool,
  isDefaultGateway: bool,
  forceAddress: bool,
  ipMasq: bool,
  ipMasqBackend: opt(z.enum(IPMASQ_BACKENDS)),
  // 0 means "not set", as in the reference.
  mtu: opt(z.int().check(z.refine((n) => n === 0 || (n >= 68 && n <= 65535), 'must be 0 (unset) or between 68 and 65535'))),
  hairpinMode: bool,
  promiscMode: bool,
  vlan: opt(z.int().check(z.minimum(0), z.maximum(4094))),
  preserveDefaultVlan: bool,
  vlanTrunk: opt(z.array(VlanTrunkSchema)),
  macspoofchk: bool,
  enabledad: bool,
  disableContainerInterface: bool,
  portIsolation: bool,
  args: opt(z.looseObject({ cni: opt(z.looseObject({ mac: opt(z.string().check(z.refine(isMac, 'expected a MAC address like 02:42:ac:11:00:02'))) })) })),
  runtimeConfig: opt(
    z.looseObject({
      mac: opt(z.string().check(z.refine(isMac, 'expected a MAC address like 02:42:ac:11:00:02'))),
      ips: opt(z.array(z.string().check(z.refine((s) => isIp(s) || isCidr(s), 'expected an IP address, optionally with a prefix length')))),
    }),
  ),
})

export interface ParseBridgeOptions {
  /**
   * Cross-key rules (hairpin vs promiscuous, VLAN vs trunk, IPAM with a disabled container interface)
   * are checked on ADD and CHECK; DEL skips them so an attachment made under an older config can still
   * be torn down (netavark's strict/lenient split).
   */
  strict?: boolean
}

const invalid = (path: string, msg: string) =>
  new CniError(CniCode.InvalidConfig, `invalid network configuration: ${path}: ${msg}`, `${path}: ${msg}`)

/** NetConf (already checked by skel) plus CNI_ARGS → BridgeConfig; CniError 7 (4 for CNI_ARGS) naming the key. */
export function parseBridgeConfig(conf: NetConf, cniArgs: ReadonlyMap<string, string>, opts: ParseBridgeOptions = {}): BridgeConfig {
  const strict = opts.strict ?? true
  const c = parseWith(BridgeConfigSchema, conf, 'network configuration')
  const vlanTrunk = collectVlanTrunk(c.vlanTrunk ?? [])
  const vlan = c.vlan ?? 0
  const hairpinMode = c.hairpinMode ?? false
  const promiscMode = c.promiscMode ?? false
  const disableContainerInterface = c.disableContainerInterface ?? false
  const layer3 = conf.ipam !== undefined && conf.ipam.type !== ''
  if (strict) {
    if (vlan > 0 && vlanTrunk.length > 0) throw invalid('vlanTrunk', 'cannot set vlan and vlanTrunk at the same time')
    if (hairpinMode && promiscMode) throw invalid('promiscMode', 'cannot set hairpinMode and promiscMode at the same time')
    if (disableContainerInterface && layer3) throw invalid('disableContainerInterface', 'cannot use IPAM when the container interface is disabled')
  }
  checkCniArgs(cniArgs, KNOWN_CNI_ARGS)
  let mac: string | undefined
  const envMac = cniArgs.get('MAC')
  if (envMac !== undefined && envMac !== '') {
    if (!isMac(envMac)) throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: MAC ${JSON.stringify(envMac)} is not a MAC address like 02:42:ac:11:00:02`)
    mac = envMac
  }
  const argsMac = c.args?.cni?.mac
  if (argsMac !== undefined && argsMac !== '') mac = argsMac
  const rtMac = c.runtimeConfig?.mac
  if (rtMac !== undefined && rtMac !== '') mac = rtMac
  const isDefaultGateway = c.isDefaultGateway ?? false
  return {
    netConf: conf,
    bridge: c.bridge === undefined || c.bridge === '' ? DEFAULT_BRIDGE : c.bridge,
    isGateway: (c.isGateway ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: c.forceAddress ?? false,
    ipMasq: c.ipMasq ?? false,
    ipMasqBackend: c.ipMasqBackend ?? DEFAULT_IPMASQ_BACKEND,
    mtu: c.mtu === undefined || c.mtu === 0 ? undefined : c.mtu,
    hairpinMode,
    promiscMode,
    vlan,
    preserveDefaultVlan: c.preserveDefaultVlan ?? true,
    vlanTrunk,
    macspoofchk: c.macspoofchk ?? false,
    enabledad: c.enabledad ?? false,
    disableContainerInterface,
    portIsolation: c.portIsolation ?? false,
    mac: mac?.toLowerCase(),
    ips: c.runtimeConfig?.ips ?? [],
    layer3,
  }
}

/** The reference's collectVlanTrunk: ranges (minID..maxID, both required together) and single ids, sorted, unique. */
export function collectVlanTrunk(items: readonly { minID?: number | undefined; maxID?: number | undefined; id?: number | undefined }[]): number[] {
  const ids = new Set<number>()
  items.forEach((item, i) => {
    const where = `vlanTrunk[${i}]`
    if (item.minID !== undefined && item.maxID === undefined) throw invalid(`${where}.maxID`, 'missing (minID and maxID must be set together)')
    if (item.minID === undefined && item.maxID !== undefined) throw invalid(`${where}.minID`, 'missing (minID and maxID must be set together)')
    if (item.minID !== undefined && item.maxID !== undefined) {
      if (item.maxID < item.minID) throw invalid(`${where}.minID`, `must not be greater than maxID, received ${item.minID} > ${item.maxID}`)
      for (let v = item.minID; v <= item.maxID; v++) ids.add(v)
    }
    if (item.id !== undefined) ids.add(item.id)
  })
  return [...ids].sort((a, b) => a - b)
}
