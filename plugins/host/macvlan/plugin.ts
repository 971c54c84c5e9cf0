// The macvlan type (bin/macvlan): containers on a host link's segment, each with a MAC address of its own
// (reference type "macvlan"). Verbs load lazily so VERSION never pays for netlink.
import type { PluginDef } from '../../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status-gc.js')).cmdStatus,
    gc: async () => (await import('./status-gc.js')).cmdGc,
  },
  info: { name: 'macvlan' },
}
