// The plugin skeleton: reads the CNI environment and stdin, validates them, dispatches the command and
// writes the result or the error JSON. It is the only writer to stdout; plugin code returns values or
// throws, and never touches process globals, so the same functions can serve a long-running process.
import { CniCode, CniError } from '../errors/cni-error.js'
import { toCniError } from '../errors/to-cni-error.js'
import { describe } from '../errors/describe.js'
import { parseCniArgs } from '../cni/args.js'
import { convertResult, type CniResult } from '../cni/result.js'
import { parseNetConf, type NetConf } from '../cni/schema.js'
import { CURRENT_VERSION, SUPPORTED_VERSIONS, checkCommandVersion, versionInfo } from '../cni/spec.js'
import { validateContainerId, validateIfName } from '../cni/validate.js'

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const
export type Command = (typeof COMMANDS)[number]

/** Everything a command needs, parsed and validated. */
export interface CmdArgs {
  command: Command
  /** '' for STATUS and GC */
  containerId: string
  /** '' when not given (allowed on DEL, STATUS, GC) */
  netns: string
  /** '' for STATUS and GC */
  ifName: string
  /** CNI_ARGS parsed */
  args: Map<string, string>
  /** CNI_PATH split on ':' */
  path: string[]
  /** raw stdin, handed unchanged to delegated plugins (IPAM) */
  stdin: Uint8Array
  conf: NetConf
  /** the environment the plugin was called with, for delegation */
  env: Readonly<Record<string, string | undefined>>
}

export interface PluginFuncs {
  add(a: CmdArgs): Promise<CniResult>
  del(a: CmdArgs): Promise<void>
  check(a: CmdArgs): Promise<void>
  status?(a: CmdArgs): Promise<void>
  gc?(a: CmdArgs): Promise<void>
}

export interface PluginInfo {
  /** the CNI type, used in messages */
  name: string
  supportedVersions?: readonly string[]
}

export interface SkelIo {
  env: Readonly<Record<string, string | undefined>>
  readStdin(): Promise<Uint8Array>
  stdout(s: string): void
  stderr(s: string): void
}

type Need = 'required' | 'optional' | 'ignored'
// Which variables each command needs (SPEC.md "Parameters", libcni skel's table).
const NEEDS: Record<string, Record<Exclude<Command, 'VERSION'>, Need>> = {
  CNI_CONTAINERID: { ADD: 'required', DEL: 'required', CHECK: 'required', STATUS: 'ignored', GC: 'ignored' },
  CNI_NETNS: { ADD: 'required', DEL: 'optional', CHECK: 'required', STATUS: 'ignored', GC: 'ignored' },
  CNI_IFNAME: { ADD: 'required', DEL: 'required', CHECK: 'required', STATUS: 'ignored', GC: 'ignored' },
  CNI_PATH: { ADD: 'required', DEL: 'required', CHECK: 'required', STATUS: 'required', GC: 'required' },
}

/** Runs one invocation; returns the process exit code. Never throws. */
export async function dispatch(funcs: PluginFuncs, info: PluginInfo, io: SkelIo): Promise<number> {
  const supported = info.supportedVersions ?? SUPPORTED_VERSIONS
  let confVersion: string | undefined
  try {
    const command = parseCommand(io.env['CNI_COMMAND'])
    if (command === 'VERSION') {
      io.stdout(JSON.stringify(versionInfo(supported)))
      return 0
    }
    const env = readEnv(command, io.env)
    const stdin = await readStdin(io)
    const conf = parseNetConf(stdin, { supported })
    confVersion = conf.cniVersion
    checkCommandVersion(command, conf.cniVersion)
    const a: CmdArgs = { command, ...env, stdin, conf, env: io.env }
    switch (command) {
      case 'ADD': {
        const result = await funcs.add(a)
        io.stdout(JSON.stringify(convertResult(result, conf.cniVersion)))
        return 0
      }
      case 'DEL':
        await funcs.del(a)
        return 0
      case 'CHECK':
        await funcs.check(a)
        return 0
      case 'STATUS':
        if (funcs.status) await funcs.status(a)
        return 0
      case 'GC':
        if (funcs.gc) await funcs.gc(a)
        return 0
    }
  } catch (e) {
    const err = toCniError(e)
    if (err.code === CniCode.Internal) io.stderr(`${info.name}: ${describe(e)}\n`)
    io.stdout(JSON.stringify(errorJson(err, confVersion)))
    return 1
  }
}

export function errorJson(err: CniError, cniVersion = CURRENT_VERSION): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion, code: err.code, msg: err.message }
  if (err.details !== undefined && err.details !== '') out['details'] = err.details
  return out
}

function parseCommand(v: string | undefined): Command {
  if (v === undefined || v === '') {
    throw new CniError(CniCode.InvalidEnv, 'required env variables [CNI_COMMAND] missing')
  }
  if (!(COMMANDS as readonly string[]).includes(v)) {
    throw new CniError(CniCode.InvalidEnv, `unknown CNI_COMMAND "${v}": expected one of ${COMMANDS.join(', ')}`)
  }
  return v as Command
}

function readEnv(command: Exclude<Command, 'VERSION'>, env: SkelIo['env']) {
  const missing = Object.keys(NEEDS).filter((k) => NEEDS[k]?.[command] === 'required' && !env[k])
  if (missing.length > 0) {
    throw new CniError(CniCode.InvalidEnv, `required env variables [${missing.join(',')}] missing`)
  }
  const get = (k: string) => (NEEDS[k]?.[command] === 'ignored' ? '' : (env[k] ?? ''))
  const containerId = get('CNI_CONTAINERID')
  const ifName = get('CNI_IFNAME')
  if (containerId !== '') validateContainerId(containerId)
  if (ifName !== '') validateIfName(ifName)
  return {
    containerId,
    netns: get('CNI_NETNS'),
    ifName,
    args: parseCniArgs(env['CNI_ARGS']),
    path: (env['CNI_PATH'] ?? '').split(':').filter((p) => p !== ''),
  }
}

async function readStdin(io: SkelIo): Promise<Uint8Array> {
  try {
    return await io.readStdin()
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to read network configuration from stdin: ${describe(e)}`)
  }
}
