// The overlay-vxlan plugin's configuration: the network keys (pkg/overlay/config.ts, shared with the agent)
// plus where this host keeps its files. CniError 7 naming the key.
import * as z from 'zod/mini'
import { parseWith, type NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { parseOverlayNetwork, type OverlayNetwork } from '../../pkg/overlay/config.js'

export interface OverlayConfig {
  netConf: NetConf
  net: OverlayNetwork
  /** host-local's dataDir for the leased subnet; undefined: host-local's default */
  dataDir: string | undefined
  /** where the delegated bridge configuration of each attachment is kept (DEL and CHECK read it back) */
  stateDir: string
}

const absPath = z.string().check(z.refine((s) => s.startsWith('/') && !s.split('/').includes('..'), 'must be an absolute path without ".."'))
const PluginKeysSchema = z.looseObject({ dataDir: z.optional(absPath), stateDir: z.optional(absPath) })

/**
 * NetConf → OverlayConfig. BERTH_ROOT (the runtime's per-host root, as `berth rig exec` sets it) prefixes
 * the default directories, so rig hosts sharing one machine keep their files apart.
 */
export function parseOverlayConfig(conf: NetConf, env: Readonly<Record<string, string | undefined>>): OverlayConfig {
  const net = parseOverlayNetwork(conf.name, conf)
  const keys = parseWith(PluginKeysSchema, conf, 'network configuration')
  const rootEnv = env['BERTH_ROOT']
  if (rootEnv !== undefined && rootEnv !== '' && (!rootEnv.startsWith('/') || rootEnv.split('/').includes('..'))) {
    throw new CniError(CniCode.InvalidEnv, `invalid BERTH_ROOT ${JSON.stringify(rootEnv)}: must be an absolute path without ".."`)
  }
  const root = rootEnv === undefined || rootEnv === '' ? '' : rootEnv.replace(/\/+$/, '')
  return {
    netConf: conf,
    net,
    dataDir: keys.dataDir ?? (root === '' ? undefined : `${root}/var/lib/cni/networks`),
    stateDir: keys.stateDir ?? `${root}/var/lib/cni/overlay-vxlan`,
  }
}
