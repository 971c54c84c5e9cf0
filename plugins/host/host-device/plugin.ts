// The host-device type (bin/host-device): gives a container one of the host's own network devices (reference type "host-device").
// Verbs load lazily so VERSION never pays for netlink.
import type { PluginDef } from '../../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./gc.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  info: { name: 'host-device' },
}
