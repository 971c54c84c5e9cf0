// Every CNI type the daemon serves, by the name its shim is installed under. Each entry loads only the
// type's description (plugin.ts); its verbs load on their first call.
import { registerOwnPlugin } from '../pkg/invoke/own-plugins.js'
import type { PluginDef } from '../pkg/skel/plugin.js'

const TYPES: Record<string, () => Promise<PluginDef>> = {
  bandwidth: async () => (await import('../plugins/bandwidth/plugin.js')).plugin,
  bridge: async () => (await import('../plugins/bridge/plugin.js')).plugin,
  firewall: async () => (await import('../plugins/firewall/plugin.js')).plugin,
  'host-device': async () => (await import('../plugins/host/host-device/plugin.js')).plugin,
  'host-local': async () => (await import('../pkg/host-local/verbs.js')).hostLocalPlugin,
  loopback: async () => (await import('../plugins/loopback/plugin.js')).plugin,
  macvlan: async () => (await import('../plugins/host/macvlan/plugin.js')).plugin,
  'overlay-vxlan': async () => (await import('../plugins/overlay-vxlan/plugin.js')).plugin,
  portmap: async () => (await import('../plugins/portmap/plugin.js')).plugin,
  tuning: async () => (await import('../plugins/tuning/plugin.js')).plugin,
}

/** The types, also registered for in-process delegation (a bridge's host-local, an overlay's bridge). */
export function servedPlugins(): Map<string, () => Promise<PluginDef>> {
  for (const [type, load] of Object.entries(TYPES)) registerOwnPlugin(type, load)
  return new Map(Object.entries(TYPES))
}
