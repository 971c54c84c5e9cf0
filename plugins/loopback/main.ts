// bin/loopback: brings up `lo` in the container's namespace (reference type "loopback").
// Verbs load lazily so VERSION never pays for netlink.
import { pluginMain } from '../../pkg/skel/main.js'

pluginMain(
  {
    add: async (a) => (await import('./add.js')).cmdAdd(a),
    del: async (a) => (await import('./del.js')).cmdDel(a),
    check: async (a) => (await import('./check.js')).cmdCheck(a),
    // Nothing to report or collect: the plugin keeps no state outside the container's namespace.
    status: async () => {},
    gc: async () => {},
  },
  { name: 'loopback' },
)
