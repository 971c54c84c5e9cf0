// Per-driver hooks of a rig: the one place where a driver adds per-host work to `rig up` and `rig down`.
//
// `bridge`: the hosts only share the underlay; nothing else to do.
// `vxlan`:  recorded in rig.json so the overlay knows the rig is meant for it. The overlay code (issue 7)
//           starts its per-host agent in afterHostUp, e.g. by spawning `berth overlay agent --net NAME`
//           through spawnInMember(..., { detached: true }) from ./exec.ts. It does nothing yet: the rig must not
//           depend on the overlay, and the overlay is not in this branch. Agents need no stopping hook
//           to be correct: `rig down` kills every process in the rig's namespaces; beforeHostDown is
//           for store clean-up (e.g. releasing the host's lease early instead of waiting for expiry).
//
// Both hooks run under the rigs lock. afterHostUp runs once per new host after every new host is up (so
// a host can reach its peers), in host order, for `up` and `add-host`; if it throws, that command fails
// and removes what it made. beforeHostDown runs for every host on `down`, and for the one host on
// `rm-host` (the others keep running: check `reason` before removing anything rig-wide); it is best
// effort: its error is logged and removal goes on.
import type { RigInfo, RigMember } from './store.js'

export interface HostHookContext {
  readonly rig: RigInfo
  readonly host: RigMember
  /** which command runs the hook: afterHostUp gets 'up' or 'add-host', beforeHostDown 'down' or 'rm-host' */
  readonly reason: 'up' | 'add-host' | 'down' | 'rm-host'
}

export async function afterHostUp(ctx: HostHookContext): Promise<void> {
  switch (ctx.rig.driver) {
    case 'bridge':
      return
    case 'vxlan':
      // the rig's overlay network and the host's agent (runtime-min/rig/overlay.ts, issue 7)
      return (await import('./overlay.js')).startRigOverlayHost(ctx.rig, ctx.host)
  }
}

export async function beforeHostDown(ctx: HostHookContext): Promise<void> {
  switch (ctx.rig.driver) {
    case 'bridge':
      return
    case 'vxlan':
      return (await import('./overlay.js')).stopRigOverlayHost(ctx.rig, ctx.host, ctx.reason)
  }
}
