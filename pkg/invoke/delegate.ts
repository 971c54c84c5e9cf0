// Delegated plugin calls (libcni invoke.DelegateAdd/Del/Check): run the plugin named by a type with
// the caller's own environment and configuration, only CNI_COMMAND changed. Used for IPAM.
// A target may carry an in-process runner for its type: it is used only when the executable CNI_PATH
// resolves to is berth's own build of that type (own-executable.ts), and it must behave as that
// executable would (same skeleton, environment and stdin); in the daemon every berth type has one
// (own-plugins.ts). Everything else is exec'd.
import { parseResult, type CniResult } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { execPlugin, pluginOutput } from './exec-plugin.js'
import { findInPath } from './find-in-path.js'
import { isOwnExecutable } from './own-executable.js'
import { ownPlugin } from './own-plugins.js'
import { runInProcess } from '../skel/plugin.js'

/** What the plugin's process would have ended with: its exit code and its stdout. */
export interface LocalRun {
  exitCode: number
  stdout: string
}

/** Runs the type's plugin inside this process, given the environment and stdin its executable would get. */
export type LocalRunner = (env: Readonly<Record<string, string | undefined>>, stdin: Uint8Array) => Promise<LocalRun>

export interface DelegateTarget {
  /** the CNI type of the delegate, e.g. conf.ipam.type */
  type: string
  /** CNI_PATH directories */
  path: readonly string[]
  /** the caller's environment */
  env: Readonly<Record<string, string | undefined>>
  /** the configuration to pass on stdin (normally the caller's own stdin) */
  stdin: Uint8Array
  /** the type's code in-process, used instead of exec when the executable found is berth's own build of it */
  local?: LocalRunner
}

/** Runs the delegate for any command; returns its parsed stdout (undefined when empty) or throws its CniError. */
export async function delegateRun(t: DelegateTarget, command: string): Promise<unknown> {
  const exe = findInPath(t.type, t.path)
  const env = { ...t.env, CNI_COMMAND: command }
  const local = t.local ?? registeredRunner(t.type)
  if (local !== undefined && isOwnExecutable(exe, t.type)) {
    const r = await local(env, t.stdin)
    return pluginOutput(exe, r.stdout, r.exitCode, null)
  }
  return execPlugin(exe, { env, stdin: t.stdin })
}

function registeredRunner(type: string): LocalRunner | undefined {
  const load = ownPlugin(type)
  return load === undefined ? undefined : async (env, stdin) => runInProcess(await load(), env, stdin)
}

export async function delegateAdd(t: DelegateTarget): Promise<CniResult> {
  const out = await delegateRun(t, 'ADD')
  if (out === undefined) throw new CniError(CniCode.DecodingFailure, `plugin ${t.type} returned no result for ADD`)
  return parseResult(out, `result of ${t.type}`)
}

export async function delegateDel(t: DelegateTarget): Promise<void> {
  await delegateRun(t, 'DEL')
}

export async function delegateCheck(t: DelegateTarget): Promise<void> {
  await delegateRun(t, 'CHECK')
}
