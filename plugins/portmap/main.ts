// bin/portmap: host ports forwarded to a container (reference type "portmap"), a chained plugin.
// Verbs load lazily so VERSION never pays for nftables.
import { pluginMain } from '../../pkg/skel/main.js'

pluginMain(
  {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status-gc.js')).cmdStatus,
    gc: async () => (await import('./status-gc.js')).cmdGc,
  },
  { name: 'portmap' },
)
