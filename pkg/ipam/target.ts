// The IPAM plugin a configuration names, called with the plugin's own environment and stdin (libcni's
// delegation). host-local runs in-process when the host-local CNI_PATH resolves to is berth's own, beside
// the caller (pkg/invoke decides; any other host-local is exec'd): half the Node start-ups per ADD/DEL.
// Loaded lazily, so only a call that takes that path pays for the host-local code.
import type { DelegateTarget, LocalRunner } from '../invoke/delegate.js'
import type { CmdArgs } from '../skel/skel.js'

const hostLocal: LocalRunner = async (env, stdin) => (await import('../host-local/in-process.js')).runHostLocal(env, stdin)

/** Whether the configuration names an IPAM plugin (layer 3); without one the plugin only makes the link. */
export const hasIpam = (a: CmdArgs): boolean => (a.conf.ipam?.type ?? '') !== ''

export function ipamTarget(a: CmdArgs): DelegateTarget {
  const type = a.conf.ipam?.type
  if (type === undefined || type === '') throw new Error('ipamTarget called without IPAM')
  return { type, path: a.path, env: a.env, stdin: a.stdin, ...(type === 'host-local' ? { local: hostLocal } : {}) }
}
