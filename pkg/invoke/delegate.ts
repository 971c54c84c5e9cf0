// Delegated plugin calls (libcni invoke.DelegateAdd/Del/Check): run the plugin named by a type with
// the caller's own environment and configuration, only CNI_COMMAND changed. Used for IPAM.
import { parseResult, type CniResult } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { execPlugin } from './exec-plugin.js'
import { findInPath } from './find-in-path.js'

export interface DelegateTarget {
  /** the CNI type of the delegate, e.g. conf.ipam.type */
  type: string
  /** CNI_PATH directories */
  path: readonly string[]
  /** the caller's environment */
  env: Readonly<Record<string, string | undefined>>
  /** the configuration to pass on stdin (normally the caller's own stdin) */
  stdin: Uint8Array
}

function run(t: DelegateTarget, command: string): Promise<unknown> {
  const exe = findInPath(t.type, t.path)
  return execPlugin(exe, { env: { ...t.env, CNI_COMMAND: command }, stdin: t.stdin })
}

export async function delegateAdd(t: DelegateTarget): Promise<CniResult> {
  const out = await run(t, 'ADD')
  if (out === undefined) throw new CniError(CniCode.DecodingFailure, `plugin ${t.type} returned no result for ADD`)
  return parseResult(out, `result of ${t.type}`)
}

export async function delegateDel(t: DelegateTarget): Promise<void> {
  await run(t, 'DEL')
}

export async function delegateCheck(t: DelegateTarget): Promise<void> {
  await run(t, 'CHECK')
}
