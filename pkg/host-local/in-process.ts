// host-local inside the calling process (the bridge, when the host-local CNI_PATH resolves to is berth's
// own: pkg/invoke/own-executable.ts). It goes through the same skeleton as the executable, with the
// environment and stdin the executable would get, and hands back what the executable would have printed
// and exited with, so results and errors are the same bytes. Its stderr is the caller's, as an exec'd
// plugin's is. Spares a second Node start-up per IPAM call.
import { dispatch, type PluginFuncs } from '../skel/skel.js'
import { HOST_LOCAL_INFO, hostLocalLoaders as l } from './verbs.js'

const funcs: PluginFuncs = {
  add: async (a) => (await l.add())(a),
  del: async (a) => (await l.del())(a),
  check: async (a) => (await l.check())(a),
  status: async (a) => (await l.status())(a),
  gc: async (a) => (await l.gc())(a),
}

export async function runHostLocal(env: Readonly<Record<string, string | undefined>>, stdin: Uint8Array): Promise<{ exitCode: number; stdout: string }> {
  let stdout = ''
  const exitCode = await dispatch(funcs, HOST_LOCAL_INFO, {
    env,
    readStdin: async () => stdin,
    stdout: (s) => {
      stdout += s
    },
    stderr: (s) => {
      process.stderr.write(s)
    },
  })
  return { exitCode, stdout }
}
