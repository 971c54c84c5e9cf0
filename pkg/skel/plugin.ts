// A CNI type as code: its name and its verbs, each loaded on demand. The executable (main.ts), the daemon
// and in-process delegation all run a type through this one description, so they cannot drift apart.
import type { CniResult } from '../cni/result.js'
import { writeStderr } from '../log/log.js'
import type { CmdArgs, PluginFuncs, PluginInfo } from './skel.js'

type Verb<R> = (a: CmdArgs) => Promise<R>
/** Each verb's implementation, loaded on demand so a process loads only the code its command needs. */
export interface PluginLoaders {
  add: () => Promise<Verb<CniResult>>
  del: () => Promise<Verb<void>>
  check: () => Promise<Verb<void>>
  status?: () => Promise<Verb<void>>
  gc?: () => Promise<Verb<void>>
}

export interface PluginDef {
  info: PluginInfo
  loaders: PluginLoaders
}

export function pluginFuncs(loaders: PluginLoaders): PluginFuncs {
  const { status, gc } = loaders
  return {
    add: async (a) => (await loaders.add())(a),
    del: async (a) => (await loaders.del())(a),
    check: async (a) => (await loaders.check())(a),
    ...(status ? { status: async (a: CmdArgs) => (await status())(a) } : {}),
    ...(gc ? { gc: async (a: CmdArgs) => (await gc())(a) } : {}),
  }
}

/** What the plugin's process would have ended with. */
export interface InProcessRun {
  exitCode: number
  stdout: string
}

/**
 * Runs one call of `def` inside this process with the environment and stdin its executable would get, and
 * returns what that executable would have printed and exited with. Its stderr goes to the current call's.
 */
export async function runInProcess(def: PluginDef, env: Readonly<Record<string, string | undefined>>, stdin: Uint8Array): Promise<InProcessRun> {
  // Loaded here, not at the top: the executable's VERSION path imports this module and must stay light.
  const { dispatch } = await import('./skel.js')
  let stdout = ''
  const exitCode = await dispatch(pluginFuncs(def.loaders), def.info, {
    env,
    readStdin: async () => stdin,
    stdout: (s) => {
      stdout += s
    },
    stderr: writeStderr,
  })
  return { exitCode, stdout }
}
