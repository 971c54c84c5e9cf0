// The bandwidth type (bin/bandwidth): traffic shaping of a veth attachment (reference type "bandwidth").
// Chained after the interface plugin; verbs load lazily so VERSION never pays for netlink.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    // Nothing to ask: shaping needs no daemon or shared resource.
    status: async () => async () => {},
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  info: { name: 'bandwidth' },
}
