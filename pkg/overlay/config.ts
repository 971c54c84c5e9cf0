// An overlay network's settings (the overlay-vxlan plugin's keys), parsed once for both readers: the plugin
// (plugins/overlay-vxlan/config.ts) and `berth overlay agent|check`, which may not import a plugin.
// A key of the wrong type or with an impossible value is CniError 7 naming the key.
import * as z from 'zod/mini'
import { isCidr } from '../cni/ip-text.js'
import { parseWith } from '../cni/schema.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { formatCidr, formatIp, networkOf, parseCidr } from '../ip/cidr.js'
import { DEFAULT_FILE_STORE_PATH, type StoreConfig } from './store.js'

export const DEFAULT_SUBNET_LEN = 24
export const DEFAULT_VNI = 1
export const DEFAULT_PORT = 4789
/** seconds; the agent renews at a third of it */
export const DEFAULT_LEASE_TTL_S = 3600
/** The VXLAN header costs: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14); IPv6 outer is 20 more. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const
/** The longest per-host subnet: .0 (VTEP), .1 (gateway), one container, broadcast. */
export const MAX_SUBNET_LEN = 30

export interface OverlayNetwork {
  /** the CNI network name; the store's network key */
  name: string
  /** IPv4 cluster CIDR, normalised ("10.244.0.0/16") */
  clusterCidr: string
  subnetLen: number
  vni: number
  port: number
  /** undefined: the device of the default route */
  underlayInterface: string | undefined
  /** undefined: underlay MTU − 50 (IPv4 underlay) or − 70 (IPv6) */
  mtu: number | undefined
  store: StoreConfig
  directRouting: boolean
  leaseTtlMs: number
  /** the VXLAN device: "berth.<vni>" */
  vxlanName: string
  /** the bridge local containers attach to */
  bridgeName: string
}

const opt = z.optional
const IFNAME = /^[^\s/:\0]{1,15}$/
const ifname = z.string().check(z.refine((s) => IFNAME.test(s) && s !== '.' && s !== '..', 'must be an interface name of 1 to 15 characters without "/", ":" or spaces'))

const FileStoreSchema = z.looseObject({
  type: z.literal('file'),
  path: opt(z.string().check(z.refine((s) => s.startsWith('/') && !s.split('/').includes('..'), 'must be an absolute path without ".."'))),
})
const EtcdStoreSchema = z.looseObject({
  type: z.literal('etcd'),
  endpoints: z.array(z.string().check(z.refine((s) => /^https?:\/\/[^\s/]+$/.test(s), 'must be an URL like http://10.0.0.1:2379'))).check(z.minLength(1, 'must list at least one endpoint')),
  prefix: opt(z.string().check(z.refine((s) => s.startsWith('/') && !/\s/.test(s), 'must start with "/" and contain no spaces'))),
  dialTimeoutMs: opt(z.int().check(z.minimum(100), z.maximum(60_000))),
})

export const OverlayNetworkSchema = z.looseObject({
  clusterCidr: z.string().check(z.refine((s) => isCidr(s) && !s.includes(':'), 'must be an IPv4 CIDR like 10.244.0.0/16')),
  subnetLen: opt(z.int().check(z.minimum(1), z.maximum(MAX_SUBNET_LEN))),
  vni: opt(z.int().check(z.minimum(1), z.maximum(16777215))),
  port: opt(z.int().check(z.minimum(1), z.maximum(65535))),
  underlayInterface: opt(ifname),
  mtu: opt(z.int().check(z.minimum(68), z.maximum(65535))),
  store: opt(z.discriminatedUnion('type', [FileStoreSchema, EtcdStoreSchema])),
  directRouting: opt(z.boolean()),
  leaseTtl: opt(z.int().check(z.minimum(1), z.maximum(7 * 24 * 3600))),
  bridge: opt(ifname),
})

const invalid = (path: string, msg: string) => new CniError(CniCode.InvalidConfig, `invalid network configuration: ${path}: ${msg}`, `${path}: ${msg}`)

/** The plugin configuration object (with its "name") → OverlayNetwork; CniError 7 naming the key. */
export function parseOverlayNetwork(name: string, raw: unknown): OverlayNetwork {
  const c = parseWith(OverlayNetworkSchema, raw, 'network configuration')
  const cluster = networkOf(parseCidr(c.clusterCidr))
  if (cluster.prefixLen > 28) throw invalid('clusterCidr', `/${cluster.prefixLen} is too small to hold a per-host subnet: use /28 or shorter`)
  const subnetLen = c.subnetLen ?? DEFAULT_SUBNET_LEN
  if (subnetLen <= cluster.prefixLen) {
    throw invalid('subnetLen', `${subnetLen} does not fit in clusterCidr ${formatCidr(cluster)}: a host subnet must be longer than /${cluster.prefixLen} (and at most /${MAX_SUBNET_LEN})`)
  }
  const vni = c.vni ?? DEFAULT_VNI
  const store: StoreConfig =
    c.store === undefined
      ? { type: 'file', path: DEFAULT_FILE_STORE_PATH }
      : c.store.type === 'file'
        ? { type: 'file', path: c.store.path ?? DEFAULT_FILE_STORE_PATH }
        : {
            type: 'etcd',
            endpoints: c.store.endpoints,
            ...(c.store.prefix !== undefined ? { prefix: c.store.prefix } : {}),
            ...(c.store.dialTimeoutMs !== undefined ? { dialTimeoutMs: c.store.dialTimeoutMs } : {}),
          }
  return {
    name,
    clusterCidr: formatCidr(cluster),
    subnetLen,
    vni,
    port: c.port ?? DEFAULT_PORT,
    underlayInterface: c.underlayInterface,
    mtu: c.mtu,
    store,
    directRouting: c.directRouting ?? false,
    leaseTtlMs: (c.leaseTtl ?? DEFAULT_LEASE_TTL_S) * 1000,
    vxlanName: vxlanDeviceName(vni),
    bridgeName: c.bridge ?? `berthbr${vni}`,
  }
}

/** "berth.<vni>": at most 14 characters for the largest VNI. */
export function vxlanDeviceName(vni: number): string {
  return `berth.${vni}`
}

/** The host's VTEP address: the first address of its subnet ("10.244.3.0"), as flannel does. */
export function vtepAddressOf(subnet: string): string {
  return formatIp(networkOf(parseCidr(subnet)).bytes)
}
