// bin/loopback: brings up `lo` in the container's namespace (reference type "loopback").
// Verbs load lazily so VERSION never pays for netlink.
import { pluginMain } from '../../pkg/skel/main.js'

pluginMain(
  {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    // Nothing to report or collect: the plugin keeps no state outside the container's namespace.
    status: async () => async () => {},
    gc: async () => async () => {},
  },
  { name: 'loopback' },
)
