// host-local inside the calling process (the bridge, when the host-local CNI_PATH resolves to is berth's
// own: pkg/invoke/own-executable.ts), through the same skeleton as the executable: same bytes out.
// Spares a second Node start-up per IPAM call.
import { runInProcess, type InProcessRun } from '../skel/plugin.js'
import { hostLocalPlugin } from './verbs.js'

export function runHostLocal(env: Readonly<Record<string, string | undefined>>, stdin: Uint8Array): Promise<InProcessRun> {
  return runInProcess(hostLocalPlugin, env, stdin)
}
