// The IPAM plugin the configuration names, called with the bridge's own environment and stdin.
import type { DelegateTarget } from '../../pkg/invoke/delegate.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import type { BridgeConfig } from './config.js'

export function ipamTarget(a: CmdArgs, cfg: BridgeConfig): DelegateTarget {
  const type = cfg.netConf.ipam?.type
  if (type === undefined || type === '') throw new Error('ipamTarget called without IPAM')
  return { type, path: a.path, env: a.env, stdin: a.stdin }
}
