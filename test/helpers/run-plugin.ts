// Runs a built plugin executable the way a runtime does: CNI_* environment, config on stdin.
import { spawnSync } from 'node:child_process'
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
  /** run the plugin binary from this directory instead of bin/ */
  dir?: string
  /**
   * run the plugin inside this network namespace (a fake host: /run/netns/NAME), through
   * `nsenter --net=PATH -- PLUGIN`, so bridges and host veths never touch the real host
   */
  hostNetns?: string
}

export function runPlugin(type: string, c: PluginCall): PluginRun {
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
  const r = spawnSync(file, argv, {
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    input: typeof c.stdin === 'string' ? c.stdin : JSON.stringify(c.stdin),
    encoding: 'utf8',
    timeout: 60_000,
  })
  let json: Record<string, unknown> | undefined
  if (r.stdout.trim() !== '') {
    try {
      json = JSON.parse(r.stdout) as Record<string, unknown>
    } catch {
      json = undefined
    }
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json }
}

/** The CNI plugin executables in bin/ (everything but the CLI and the addon files). */
export function builtPluginTypes(): string[] {
  try {
    return readdirSync(BIN_DIR).filter((f) => !f.includes('.') && f !== 'berth' && statSync(join(BIN_DIR, f)).isFile())
  } catch {
    return []
  }
}
