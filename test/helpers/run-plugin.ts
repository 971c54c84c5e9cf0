// Runs a built plugin executable the way a runtime does: CNI_* environment, config on stdin; runPlugin
// waits for it, spawnPlugin lets the test act (kill a daemon) while it runs.
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BIN_DIR } from './paths.js'

export interface PluginRun {
  status: number | null
  stdout: string
  stderr: string
  /** stdout parsed, or undefined when empty */
  json: Record<string, unknown> | undefined
}

export interface PluginCall {
  command?: string
  containerId?: string
  netns?: string
  ifName?: string
  args?: string
  path?: string
  stdin: string | object
  /** replace the whole CNI environment (for bad-input tests) */
  env?: Record<string, string>
  /** added to the CNI environment (e.g. BERTH_SOCKET) */
  extraEnv?: Record<string, string>
  /** run the plugin binary from this directory instead of bin/ */
  dir?: string
  /**
   * run the plugin inside this network namespace (a fake host: /run/netns/NAME), through
   * `nsenter --net=PATH -- PLUGIN`, so bridges and host veths never touch the real host
   */
  hostNetns?: string
}

/** The process a call runs as: file, argv, environment and stdin. */
function pluginProcess(type: string, c: PluginCall): { file: string; argv: string[]; env: Record<string, string>; input: string } {
  const env: Record<string, string> = c.env ?? {
    CNI_COMMAND: c.command ?? 'ADD',
    CNI_CONTAINERID: c.containerId ?? 'berth-test',
    CNI_NETNS: c.netns ?? '',
    CNI_IFNAME: c.ifName ?? 'eth0',
    CNI_PATH: c.path ?? BIN_DIR,
    ...(c.args !== undefined ? { CNI_ARGS: c.args } : {}),
  }
  const exe = join(c.dir ?? BIN_DIR, type)
  const [file, argv] = c.hostNetns === undefined ? [exe, []] : ['nsenter', [`--net=${c.hostNetns}`, '--', exe]]
  return {
    file,
    argv,
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env, ...c.extraEnv },
    input: typeof c.stdin === 'string' ? c.stdin : JSON.stringify(c.stdin),
  }
}

function parsed(stdout: string): Record<string, unknown> | undefined {
  if (stdout.trim() === '') return undefined
  try {
    return JSON.parse(stdout) as Record<string, unknown>
  } catch {
    return undefined
  }
}

export function runPlugin(type: string, c: PluginCall): PluginRun {
  const p = pluginProcess(type, c)
  const r = spawnSync(p.file, p.argv, { env: p.env, input: p.input, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: parsed(r.stdout) }
}

/** What a test rig's run(command, container, conf, opts) takes beyond the command and the config. */
export interface HostCallOptions {
  ifName?: string
  id?: string
  args?: string
}
export type HostRunner = (command: string, cont: { path: string } | string, conf: Record<string, unknown>, opts?: HostCallOptions) => PluginRun

/**
 * runPlugin bound to a type and a fake host namespace, with berth's bin/ as CNI_PATH: `cont` is the
 * container's namespace (or a path, '' for none); eth0 and container ID c1 unless given.
 */
export function hostRunner(type: string, hostNetns: string): HostRunner {
  return (command, cont, conf, o = {}) =>
    runPlugin(type, {
      command,
      netns: typeof cont === 'string' ? cont : cont.path,
      ifName: o.ifName ?? 'eth0',
      containerId: o.id ?? 'c1',
      path: BIN_DIR,
      stdin: conf,
      hostNetns,
      ...(o.args === undefined ? {} : { args: o.args }),
    })
}

export interface SpawnedRun extends PluginRun {
  /** the signal that ended it (SIGKILL when it overran timeoutMs) */
  signal: NodeJS.Signals | null
  timedOut: boolean
  /** performance.now() at spawn and at exit */
  started: number
  ended: number
}

/** runPlugin without blocking the test's event loop; killed (timedOut) after `timeoutMs`. */
export function spawnPlugin(type: string, c: PluginCall, timeoutMs = 60_000): Promise<SpawnedRun> {
  const p = pluginProcess(type, c)
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(p.file, p.argv, { env: p.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    // A plugin that exits before reading all of stdin is its own business, not the test's.
    child.stdin.on('error', () => {})
    child.stdin.end(p.input)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, timedOut, stdout, stderr, json: parsed(stdout), started, ended: performance.now() })
    })
  })
}

/** The CNI plugin executables in bin/ (everything but the CLI and the addon files). */
export function builtPluginTypes(): string[] {
  try {
    return readdirSync(BIN_DIR).filter((f) => !f.includes('.') && f !== 'berth' && statSync(join(BIN_DIR, f)).isFile())
  } catch {
    return []
  }
}
