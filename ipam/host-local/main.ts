// bin/host-local: addresses from ranges, reserved in files under dataDir (reference type "host-local",
// same configuration keys and on-disk format). Verbs load lazily so VERSION never pays for them.
import { pluginMain } from '../../pkg/skel/main.js'

pluginMain(
  {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  { name: 'host-local' },
)
