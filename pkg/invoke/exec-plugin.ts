// Runs a CNI plugin executable (libcni invoke.ExecPlugin): argv-only spawn, config on stdin,
// its stderr passed through to ours, its stdout parsed as a result or as a CNI error.
import { spawn } from 'node:child_process'
import { CniCode, CniError } from '../errors/cni-error.js'

export interface ExecOptions {
  env: Readonly<Record<string, string | undefined>>
  stdin: Uint8Array
  /** kill the plugin after this long (default 120 s) */
  timeoutMs?: number
}

/** Returns the parsed stdout JSON (undefined when empty); a failing plugin's error JSON becomes a CniError with its code. */
export function execPlugin(path: string, opts: ExecOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], {
      env: opts.env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'inherit'],
      timeout: opts.timeoutMs ?? 120_000,
      killSignal: 'SIGKILL',
    })
    const out: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.on('error', (e) => reject(new CniError(CniCode.PluginExecFailed, `failed to run plugin ${path}: ${e.message}`)))
    child.stdin.on('error', () => {
      // The plugin may exit without reading stdin (VERSION); its exit status tells what happened.
    })
    child.on('close', (code, signal) => {
      try {
        resolve(pluginOutput(path, Buffer.concat(out).toString('utf8'), code, signal))
      } catch (e) {
        reject(e)
      }
    })
    child.stdin.end(opts.stdin)
  })
}

/**
 * What a plugin run amounts to, from its stdout and exit: the parsed result (undefined when empty), or the
 * CniError it printed. Shared by execPlugin and a plugin run in-process, so both end the same way.
 */
export function pluginOutput(path: string, stdout: string, code: number | null, signal: NodeJS.Signals | null): unknown {
  const text = stdout.trim()
  if (code !== 0) throw pluginError(path, text, code, signal)
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new CniError(CniCode.DecodingFailure, `plugin ${path} printed invalid JSON`, text.slice(0, 500))
  }
}

function pluginError(path: string, text: string, code: number | null, signal: NodeJS.Signals | null): CniError {
  try {
    const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown }
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : undefined)
    }
  } catch {
    // not an error document; fall through
  }
  const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`
  return new CniError(CniCode.PluginExecFailed, `plugin ${path} ${how}`, text === '' ? undefined : text.slice(0, 500))
}
