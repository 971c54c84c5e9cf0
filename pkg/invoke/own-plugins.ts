// berth's own CNI types that this process can run in-process. The daemon registers every type; a plugin
// executable registers none (it passes its own runner, as the bridge does for host-local). A delegate runs
// in-process only when the executable CNI_PATH resolves to is this very build of the type (own-executable.ts).
import type { PluginDef } from '../skel/plugin.js'

const registry = new Map<string, () => Promise<PluginDef>>()

export function registerOwnPlugin(type: string, load: () => Promise<PluginDef>): void {
  registry.set(type, load)
}

export function ownPlugin(type: string): (() => Promise<PluginDef>) | undefined {
  return registry.get(type)
}

export function ownPluginTypes(): string[] {
  return [...registry.keys()].sort()
}
