// The loopback type (bin/loopback): brings up `lo` in the container's namespace (reference type "loopback").
// Verbs load lazily so VERSION never pays for netlink.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    // Nothing to report or collect: the plugin keeps no state outside the container's namespace.
    status: async () => async () => {},
    gc: async () => async () => {},
  },
  info: { name: 'loopback' },
}
