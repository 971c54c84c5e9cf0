// Process entry for plugin executables: real stdin/stdout/env around dispatch().
import { CniCode, CniError } from '../errors/cni-error.js'
import { describe } from '../errors/describe.js'
import { dispatch, errorJson, type PluginFuncs, type PluginInfo } from './skel.js'

export function pluginMain(funcs: PluginFuncs, info: PluginInfo): void {
  // stdout carries exactly one JSON document; anything a library prints goes to stderr instead.
  console.log = console.error
  console.info = console.error
  let done = false
  const fail = (e: unknown) => {
    process.stderr.write(`${info.name}: internal error: ${describe(e)}\n`)
    if (!done) {
      done = true
      process.stdout.write(JSON.stringify(errorJson(new CniError(CniCode.Internal, `internal error: ${describe(e)}`))))
    }
    process.exit(1)
  }
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)
  const io = {
    env: process.env,
    readStdin: readAll,
    stdout: (s: string) => {
      done = true
      process.stdout.write(s)
    },
    stderr: (s: string) => void process.stderr.write(s),
  }
  dispatch(funcs, info, io).then((code) => {
    process.exitCode = code
  }, fail)
}

async function readAll(): Promise<Uint8Array> {
  if (process.stdin.isTTY) return new Uint8Array()
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}
