// One CNI call run in this thread: the type's plugin through the executable's own skeleton, its log lines
// captured as its stderr. Used by the daemon's main thread and by its namespace workers alike.
import { withStderr } from '../pkg/log/log.js'
import { runInProcess, type PluginDef } from '../pkg/skel/plugin.js'

export interface CallResult {
  exit: number
  stdout: string
  stderr: string
}

export async function callPlugin(load: () => Promise<PluginDef>, env: Record<string, string>, stdin: Uint8Array): Promise<CallResult> {
  const stderr: string[] = []
  try {
    const def = await load()
    const r = await withStderr({ write: (s) => void stderr.push(s), level: env['BERTH_LOG_LEVEL'] }, () => runInProcess(def, env, stdin))
    return { exit: r.exitCode, stdout: r.stdout, stderr: stderr.join('') }
  } catch (e) {
    // the skeleton never throws; a plugin that fails to load does
    return internalError(`internal error: ${e instanceof Error ? e.message : String(e)}`, stderr.join(''))
  }
}

export function internalError(msg: string, stderr = ''): CallResult {
  return { exit: 1, stdout: JSON.stringify({ cniVersion: '1.1.0', code: 999, msg }), stderr }
}
