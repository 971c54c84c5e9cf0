// The overlay-vxlan type (bin/overlay-vxlan): containers of one flat network across hosts (flannel's VXLAN L3 model). The host side
// (lease, VXLAN device, peer routes) is per host; containers attach through the delegated `bridge` plugin.
// Verbs load lazily so VERSION never pays for netlink or the store.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status.js')).cmdStatus,
    gc: async () => (await import('./status.js')).cmdGc,
  },
  info: { name: 'overlay-vxlan' },
}
