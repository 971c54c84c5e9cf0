// The tuning type (bin/tuning): sysctls and interface attributes of the container's interface (reference type "tuning").
// Chained after an interface plugin: it passes prevResult through. Verbs load lazily so VERSION never
// pays for netlink.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    // Nothing to ask: the plugin needs no daemon or shared resource.
    status: async () => async () => {},
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  info: { name: 'tuning' },
}
