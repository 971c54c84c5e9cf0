// The bridge type (bin/bridge): containers on a Linux bridge through veth pairs (reference type "bridge").
// Verbs load lazily so VERSION never pays for netlink.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status-gc.js')).cmdStatus,
    gc: async () => (await import('./status-gc.js')).cmdGc,
  },
  info: { name: 'bridge' },
}
