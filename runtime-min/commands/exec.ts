// `berth exec NAME -- CMD...`: runs a command inside a running container, entering all of its
// namespaces (network, UTS, IPC, PID, mount) and its root directory, with the container's environment:
//   nsenter --target INIT --net --uts --ipc --pid --mount --root --wd -- CMD...
// nsenter forks into the PID namespace; berth forwards INT/TERM/HUP to that child and returns its code.
import { spawn } from 'node:child_process'
import { CliError } from '../cli-error.js'
import { checkCommand, DEFAULT_PATH } from '../container/command-path.js'
import { currentInit, effectiveStatus, exitCodeOf, type Ctx } from '../container/lifecycle.js'
import { envObject, findInit } from '../container/launch.js'
import { SignalRelay } from '../container/signals.js'
import { hostTool } from '../container/tools.js'

export interface ExecArgs {
  name: string
  command: string[]
  env: string[]
}

export function execArgs(pid: number, command: readonly string[]): string[] {
  return ['--target', String(pid), '--net', '--uts', '--ipc', '--pid', '--mount', '--root', '--wd', '--', ...command]
}

export async function exec(a: ExecArgs, ctx: Ctx): Promise<number> {
  const s = ctx.store.read(a.name)
  const init = currentInit(s)
  if (effectiveStatus(s) !== 'running' || init === undefined) throw new CliError(`container ${a.name} is not running`, `see 'berth ps -a'`)
  const [cmd] = a.command
  if (cmd === undefined) throw new CliError('no command given', `put the command after --, e.g. berth exec ${a.name} -- ip addr`)
  const env = envObject([...s.env, ...a.env.map((kv) => (kv.includes('=') ? kv : `${kv}=${process.env[kv] ?? ''}`))])
  // /proc/PID/root is the container's root as its processes see it (the rootfs when it has one)
  checkCommand(`/proc/${init.pid}/root`, cmd, env['PATH'] ?? DEFAULT_PATH)
  const relay = new SignalRelay()
  relay.running()
  try {
    const child = spawn(hostTool('nsenter'), execArgs(init.pid, a.command), { stdio: 'inherit', env, detached: true })
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(127))
      child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)))
    })
    let running = true
    void exited.then(() => (running = false))
    if (child.pid !== undefined) relay.target(await findInit(child.pid, () => running))
    return await exited
  } finally {
    relay.dispose()
  }
}
