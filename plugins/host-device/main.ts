// bin/host-device: gives a container one of the host's own network devices (reference type "host-device").
// Verbs load lazily so VERSION never pays for netlink.
import { pluginMain } from '../../pkg/skel/main.js'

pluginMain(
  {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./gc.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  { name: 'host-device' },
)
