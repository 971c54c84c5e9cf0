// The firewall type (bin/firewall): lets the container's addresses through the host's forward path (reference type
// "firewall"), with nftables (default) or iptables. Chained after an interface plugin: it passes
// prevResult through. Verbs load lazily so VERSION never pays for the firewall code.
import type { PluginDef } from '../../pkg/skel/plugin.js'

export const plugin: PluginDef = {
  loaders: {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./gc.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  info: { name: 'firewall' },
}
