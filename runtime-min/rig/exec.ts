// Running a command "on" a rig member: in its network namespace, with its BERTH_ROOT, and with berth's
// own bin/ first on PATH and in CNI_PATH, so `berth run ...` inside behaves as on a real machine.
//
// The child is forked while the calling thread sits in the member's namespace (withNetnsSync): a forked
// child keeps the namespace it was forked in, and the parent switches straight back. No shell is involved.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { constants as osConstants } from 'node:os'
import { delimiter } from 'node:path'
import { NetnsHandle, withNetnsSync } from '../../pkg/ns/netns.js'
import { CliError } from '../cli-error.js'
import { berthBinDir } from '../paths.js'
import type { RigInfo, RigMember } from './store.js'

type Env = Record<string, string | undefined>

/** The environment a command on `member` gets: the caller's, plus the member's BERTH_ROOT, PATH and CNI_PATH. */
export function memberEnv(rig: RigInfo, member: RigMember, base: Readonly<Env> = process.env, binDir = berthBinDir()): Env {
  const path = [binDir, ...(base['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)]
  return {
    ...base,
    BERTH_ROOT: member.root,
    // A CNI_PATH the caller chose wins; otherwise berth's own plugins, then the usual place.
    CNI_PATH: base['CNI_PATH'] !== undefined && base['CNI_PATH'] !== '' ? base['CNI_PATH'] : [binDir, '/opt/cni/bin'].join(delimiter),
    PATH: [...new Set(path.filter((p) => p !== ''))].join(delimiter),
    BERTH_RIG: rig.name,
    BERTH_RIG_MEMBER: member.name,
  }
}

export interface SpawnInMemberOptions {
  readonly stdio?: StdioOptions
  /** a new session, for long-running helpers (e.g. an overlay agent) that outlive the caller */
  readonly detached?: boolean
  /** extra environment on top of memberEnv */
  readonly env?: Readonly<Env>
}

/** Starts argv[0] with argv[1..] in the member's namespace. Spawn errors (ENOENT) arrive as 'error'. */
export function spawnInMember(rig: RigInfo, member: RigMember, argv: readonly string[], opts: SpawnInMemberOptions = {}): ChildProcess {
  const [cmd, ...args] = argv
  if (cmd === undefined || cmd === '') throw new CliError('no command given', `put it after '--': berth rig exec ${rig.name} ${member.name} -- CMD [ARG...]`)
  let ns: NetnsHandle
  try {
    ns = NetnsHandle.open(member.netns)
  } catch {
    throw new CliError(`the namespace of ${rig.name}/${member.name} (${member.netns}) is gone`, `remove the rig with 'berth rig down ${rig.name}' and make it again`, 1)
  }
  try {
    return withNetnsSync(ns, () =>
      spawn(cmd, args, {
        stdio: opts.stdio ?? 'inherit',
        detached: opts.detached ?? false,
        env: { ...memberEnv(rig, member), ...opts.env },
      }),
    )
  } finally {
    ns.close()
  }
}

const FORWARDED = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const

/**
 * Runs argv on the member with stdio inherited and resolves with its exit code (128+N for signal N;
 * 127 when the command is not found, 126 when it cannot be run). Signals sent to us are passed on;
 * SIGINT is only kept from ending us, since a terminal sends it to the child as well.
 */
export function execInMember(rig: RigInfo, member: RigMember, argv: readonly string[]): Promise<number> {
  const child = spawnInMember(rig, member, argv)
  const forward = (sig: NodeJS.Signals) => () => {
    child.kill(sig)
  }
  const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const)
  const ignoreInt = () => undefined
  for (const [sig, h] of handlers) process.on(sig, h)
  process.on('SIGINT', ignoreInt)
  return new Promise<number>((resolve, reject) => {
    const done = () => {
      for (const [sig, h] of handlers) process.off(sig, h)
      process.off('SIGINT', ignoreInt)
    }
    child.once('error', (e: NodeJS.ErrnoException) => {
      done()
      if (e.code === 'ENOENT') reject(new CliError(`command not found in ${rig.name}/${member.name}: ${argv[0]}`, 'check its name and PATH', 127))
      else if (e.code === 'EACCES') reject(new CliError(`cannot run ${argv[0]} in ${rig.name}/${member.name}: permission denied`, 'check that it is executable', 126))
      else reject(e)
    })
    child.once('exit', (code, signal) => {
      done()
      resolve(code ?? 128 + (signal !== null ? (osConstants.signals[signal] ?? 1) : 1))
    })
  })
}
