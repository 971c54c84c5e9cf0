// The chain runner's data types (see index.ts for the API overview).
import type { PluginConf } from '../../pkg/cni/schema.js'

/** One network configuration list, as loaded from the conf dir (libcni NetworkConfigList). */
export interface NetworkList {
  name: string
  cniVersion: string
  disableCheck: boolean
  disableGC: boolean
  loadOnlyInlinedPlugins: boolean
  /** plugin objects, every key kept (plugins read keys the runtime does not know) */
  plugins: PluginConf[]
  /** the list's bytes: what the cache stores as `config` (a single .conf is wrapped first, as libcni does) */
  bytes: Uint8Array
  /** the file it came from, for messages ("" when built from bytes) */
  source: string
}

/** One attachment's arguments (libcni RuntimeConf). */
export interface RuntimeConf {
  containerId: string
  /** path of the network namespace; "" when there is none (DEL after the namespace is gone) */
  netns: string
  ifName: string
  /** CNI_ARGS pairs, in order */
  args: [string, string][]
  /** capability values; each plugin gets only those it declares in `capabilities` */
  capabilityArgs: Record<string, unknown>
}

/** Where plugins and the cache are. */
export interface CniEnv {
  /** CNI_PATH directories */
  cniPath: string[]
  /** libcni cache dir (results in `results/`) */
  cacheDir: string
  /** base environment for plugins (default process.env); CNI_* variables are set on top */
  env?: Readonly<Record<string, string | undefined>>
}

/** A GC attachment (SPEC "GC"): the pair that identifies a live attachment. */
export interface GcAttachment {
  containerID: string
  ifname: string
}
