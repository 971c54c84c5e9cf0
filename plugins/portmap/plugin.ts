// The portmap type (bin/portmap): host ports forwarded to a container (reference type "portmap"), a chained plugin.
// Verbs load lazily so VERSION never pays for nftables.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status-gc.js')).cmdStatus,
    gc: async () => (await import('./status-gc.js')).cmdGc,
  },
  info: { name: 'portmap' },
}
