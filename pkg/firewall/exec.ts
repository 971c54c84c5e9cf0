// Runs a firewall tool (iptables-restore, iptables-save) inside a network namespace.
//
// child_process.spawn forks synchronously on the calling (main) thread, and a forked child keeps the
// namespace its parent thread had at fork time. So spawning inside withNetnsSync puts the child in the
// target namespace; we switch back as soon as spawn() returns and then wait for the child
// asynchronously, without blocking the event loop the way spawnSync would. Always an argv array,
// never a shell.
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, statSync, constants as fsc } from 'node:fs'
import { delimiter, join } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'
import type { NetnsHandle } from '../ns/netns.js'
import { withNetnsSync } from '../ns/netns.js'

export interface ExecResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface ExecOptions {
  input?: string
  /** kill the child (SIGKILL) after this long; default 30 s */
  timeoutMs?: number
}

/** sbin directories a CNI runtime may leave out of PATH. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin']

/** Absolute path of an executable found in PATH or the usual sbin directories, or undefined. */
export function findExecutable(name: string, pathEnv = process.env['PATH'] ?? ''): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined
  const dirs = [...pathEnv.split(delimiter).filter((d) => d.startsWith('/')), ...SBIN]
  for (const dir of new Set(dirs)) {
    const p = join(dir, name)
    if (isExecutable(p)) return p
  }
  return undefined
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsc.X_OK)
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** Spawns `file args` inside `ns` (undefined: current namespace) and collects its output. Never rejects on exit status. */
export function execInNetns(ns: NetnsHandle | undefined, file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    let child: ChildProcess
    try {
      child = withNetnsSync(ns, () =>
        spawn(file, args, {
          stdio: ['pipe', 'pipe', 'pipe'],
          // stable, untranslated messages: they end up in CNI error details
          env: { ...process.env, LC_ALL: 'C' },
        }),
      )
    } catch (e) {
      reject(e)
      return
    }
    // Our own timer rather than spawn's `timeout`, which is only cleared on 'exit' and so keeps the
    // process alive for the full period when the executable could not be started at all.
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    child.stderr!.on('data', (b: Buffer) => err.push(b))
    // The child may exit before reading all of stdin (a syntax error on line 1): ignore EPIPE here,
    // the exit status and stderr tell the story.
    child.stdin!.on('error', () => {})
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new CniError(CniCode.NotAvailable, `failed to run ${file}: ${e.message}`, undefined, { cause: e }))
    })
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      const stderr = Buffer.concat(err).toString('utf8')
      resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: timedOut ? `${stderr}(killed after ${timeoutMs} ms)` : stderr })
    })
    child.stdin!.end(opts.input ?? '')
  })
}
