// host-local's verbs, each loaded on demand: the executable (ipam/host-local/main.ts), the daemon and the
// in-process runner (in-process.ts) serve the same ones, so they cannot drift apart.
import type { PluginDef } from '../skel/plugin.js'

export const hostLocalPlugin: PluginDef = {
  info: { name: 'host-local' },
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
}
