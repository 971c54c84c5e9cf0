// host-local's verbs, each loaded on demand: the executable (ipam/host-local/main.ts) and the in-process
// runner (in-process.ts) serve the same ones, so the two cannot drift apart.
import type { PluginLoaders } from '../skel/main.js'
import type { PluginInfo } from '../skel/skel.js'

export const HOST_LOCAL_INFO: PluginInfo = { name: 'host-local' }

export const hostLocalLoaders = {
  add: async () => (await import('./add.js')).cmdAdd,
  del: async () => (await import('./del.js')).cmdDel,
  check: async () => (await import('./check.js')).cmdCheck,
  status: async () => (await import('./status.js')).cmdStatus,
  gc: async () => (await import('./gc.js')).cmdGc,
} satisfies PluginLoaders
