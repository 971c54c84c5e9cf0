// The IPAM plugin the configuration names, called with the bridge's own environment and stdin.
// host-local runs in-process when the host-local CNI_PATH resolves to is berth's own, beside this bridge
// (pkg/invoke decides; any other host-local is exec'd): half the Node start-ups per ADD/DEL. Loaded
// lazily, so only a call that takes that path pays for the host-local code.
import type { DelegateTarget, LocalRunner } from '../../pkg/invoke/delegate.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import type { BridgeConfig } from './config.js'

const hostLocal: LocalRunner = async (env, stdin) => (await import('../../pkg/host-local/in-process.js')).runHostLocal(env, stdin)

export function ipamTarget(a: CmdArgs, cfg: BridgeConfig): DelegateTarget {
  const type = cfg.netConf.ipam?.type
  if (type === undefined || type === '') throw new Error('ipamTarget called without IPAM')
  return { type, path: a.path, env: a.env, stdin: a.stdin, ...(type === 'host-local' ? { local: hostLocal } : {}) }
}
