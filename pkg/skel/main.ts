// Process entry for plugin executables: real stdin/stdout/env around dispatch().
// VERSION is answered here without loading the skeleton (zod, schemas) or any plugin code: runtimes
// such as podman send VERSION to every plugin each time they load a network, so it must be cheap.
// stdin/stdout/stderr are used through their file descriptors: process.stdin/stdout would build
// stream objects and load Node's stream, net and fs-stream modules, a large share of start-up time.
import { readFileSync, writeSync } from 'node:fs'
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { SUPPORTED_VERSIONS, versionInfo } from '../cni/spec.js'
import { pluginFuncs, type PluginDef } from './plugin.js'

/** Set by the build's warm-up run: load every module, run nothing, so the V8 code cache covers them. */
export const WARMUP_ENV = 'BERTH_WARMUP'

export function pluginMain({ loaders, info }: PluginDef): void {
  if (process.env[WARMUP_ENV] === '1') {
    void Promise.all([import('./skel.js'), ...Object.values(loaders).map((load: () => Promise<unknown>) => load())])
    return
  }
  const funcs = pluginFuncs(loaders)
  if (process.env['CNI_COMMAND'] === 'VERSION') {
    writeFd(1, JSON.stringify(versionInfo(info.supportedVersions ?? SUPPORTED_VERSIONS)))
    return
  }
  // stdout carries exactly one JSON document; anything a library prints goes to stderr instead.
  console.log = console.error
  console.info = console.error
  let done = false
  const fail = (e: unknown) => {
    writeFd(2, `${info.name}: internal error: ${describe(e)}\n`)
    if (!done) {
      done = true
      const err = new CniError(CniCode.Internal, `internal error: ${describe(e)}`)
      writeFd(1, JSON.stringify({ cniVersion: '1.1.0', code: err.code, msg: err.message }))
    }
    process.exit(1)
  }
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)
  // A DEL cut short by a signal leaves state behind that nothing will clean: finish it (netavark does the same).
  if (process.env['CNI_COMMAND'] === 'DEL') for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => {})
  const io = {
    env: process.env,
    readStdin: readAll,
    stdout: (s: string) => {
      done = true
      writeFd(1, s)
    },
    stderr: (s: string) => writeFd(2, s),
  }
  import('./skel.js')
    .then(({ dispatch }) => dispatch(funcs, info, io))
    .then((code) => {
      process.exitCode = code
    }, fail)
}

async function readAll(): Promise<Uint8Array> {
  try {
    return readFileSync(0)
  } catch (e) {
    // A non-blocking or closed stdin: fall back to the stream (rare; costs start-up time).
    if ((e as { code?: string }).code !== 'EAGAIN') throw e
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    return Buffer.concat(chunks)
  }
}

/** Writes all of `s`, waiting briefly when the descriptor is a full non-blocking pipe. */
function writeFd(fd: number, s: string): void {
  let buf = Buffer.from(s)
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf))
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
    }
  }
}
