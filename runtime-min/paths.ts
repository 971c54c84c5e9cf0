// Per-host runtime paths of the berth CLI (runtime contract "Paths"). Every path sits under BERTH_ROOT
// (default "/"), so a rig host is a network namespace plus its own root directory. Read at call time:
// tests and `berth rig exec` set BERTH_ROOT per process.
import { realpathSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

type Env = Readonly<Record<string, string | undefined>>

/** BERTH_ROOT as an absolute path ("/" when unset or empty). */
export function berthRoot(env: Env = process.env): string {
  const r = env['BERTH_ROOT']
  return r === undefined || r === '' ? '/' : resolve(r)
}

const under = (env: Env, ...parts: string[]) => join(berthRoot(env), ...parts)

/** CNI config dir; `--cni-conf-dir` overrides it (callers pass the option's value). */
export const cniConfDir = (env: Env = process.env): string => under(env, 'etc/cni/net.d')
/** libcni's cache dir; results live in `results/NET-CONTAINERID-IFNAME`. */
export const cniCacheDir = (env: Env = process.env): string => under(env, 'var/lib/cni')
/** host-local `dataDir` written into the conflists berth creates. */
export const hostLocalDataDir = (env: Env = process.env): string => under(env, 'var/lib/cni/networks')
/** container state: `<dir>/<name>/state.json` and the log file. */
export const containersDir = (env: Env = process.env): string => under(env, 'run/berth/containers')
/** persisted container network namespaces (`/run/netns` when BERTH_ROOT=/, so `ip netns` sees them). */
export const netnsDir = (env: Env = process.env): string => under(env, 'run/netns')
/** berth's own lock files for this host (network creation, default network). */
export const berthRunDir = (env: Env = process.env): string => under(env, 'run/berth')

/** The overlay's file store, shared by all rig hosts of one machine: deliberately NOT under BERTH_ROOT. */
export const OVERLAY_STORE_DIR = '/var/lib/berth/overlay'

/** The directory holding the running berth executable (bin/), where berth's own plugins are. */
export function berthBinDir(): string {
  const script = process.argv[1]
  if (script !== undefined) {
    try {
      return dirname(realpathSync(script))
    } catch {
      // not a file (node -e); fall back to this module's place
    }
  }
  return dirname(fileURLToPath(import.meta.url))
}

/** CNI_PATH: the env var when set, else berth's own bin/ then /opt/cni/bin. */
export function cniPath(env: Env = process.env): string[] {
  const v = env['CNI_PATH']
  if (v !== undefined && v !== '') return v.split(':').filter((p) => p !== '')
  return [berthBinDir(), '/opt/cni/bin']
}
