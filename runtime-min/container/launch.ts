// Starting the container's command with util-linux, argv arrays only (no shell):
//
//   nsenter --net=NETNS --uts=UTS -- unshare --ipc --pid --fork --kill-child --mount-proc
//           --propagation slave [--root ROOTFS] -- CMD ARG...
//
// Why external tools rather than the native addon: Node cannot fork-and-exec in a new PID namespace
// (unshare(CLONE_NEWPID) only affects children, and child_process cannot run code between fork and
// exec), so some process outside Node must do it; util-linux is on every machine and does exactly
// this. `--fork` makes CMD PID 1 of its PID namespace; `--mount-proc` gives it its own /proc (inside
// the rootfs when --root chroots); `--kill-child` kills it should unshare die; `--propagation slave`
// lets the host's unmounts (e.g. other containers' netns files) reach this mount namespace while
// nothing mounted inside leaks out.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { childrenOf, processRef, waitUntil } from './proc.js'
import type { ProcessRef } from './state.js'
import { hostTool } from './tools.js'

export interface LaunchSpec {
  /** network namespace file; undefined = the host's (--net host) */
  netns?: string | undefined
  uts: string
  rootfs?: string | undefined
  command: string[]
  /** the command's environment, K=V */
  env: string[]
}

/** The argv of the launch (after the nsenter executable). */
export function launchArgs(spec: LaunchSpec): string[] {
  return [
    ...(spec.netns !== undefined ? [`--net=${spec.netns}`] : []),
    `--uts=${spec.uts}`,
    '--',
    hostTool('unshare'),
    '--ipc',
    '--pid',
    '--fork',
    '--kill-child',
    '--mount-proc',
    '--propagation',
    'slave',
    ...(spec.rootfs !== undefined ? ['--root', spec.rootfs] : []),
    '--',
    ...spec.command,
  ]
}

export function envObject(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of env) {
    const i = kv.indexOf('=')
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return out
}

/**
 * Spawns the launch in its own session (so a terminal's Ctrl-C reaches berth, which forwards it once,
 * rather than reaching the command twice).
 */
export function spawnContainer(spec: LaunchSpec, stdio: StdioOptions): ChildProcess {
  // unshare mounts the new /proc at ROOTFS/proc: make sure the mount point exists (runc does the same).
  if (spec.rootfs !== undefined) mkdirSync(join(spec.rootfs, 'proc'), { recursive: true })
  return spawn(hostTool('nsenter'), launchArgs(spec), { stdio, env: envObject(spec.env), cwd: '/', detached: true })
}

/**
 * The container's init: the child unshare forks (nsenter execs unshare in place, so the spawned PID is
 * unshare's). Undefined when the command ended before we saw it.
 */
export async function findInit(launcherPid: number, running: () => boolean): Promise<ProcessRef | undefined> {
  let ref: ProcessRef | undefined
  await waitUntil(
    () => {
      const [child] = childrenOf(launcherPid)
      if (child !== undefined) ref = processRef(child)
      return ref !== undefined || !running()
    },
    10_000,
    5,
  )
  return ref
}
