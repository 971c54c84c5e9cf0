// Finding the container's command before anything is created, so "command not found" is one clear line
// and leaves nothing behind. The lookup is the one execvp will do inside: the container's PATH, resolved
// inside the root directory (--rootfs or /), with symlinks followed within that root as chroot does.
import { accessSync, constants, lstatSync, readlinkSync, statSync } from 'node:fs'
import { posix } from 'node:path'
import { CliError } from '../cli-error.js'

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** The host path of `inside` (an absolute path in the container), following symlinks inside `root`. */
export function resolveInRoot(root: string, inside: string): string | undefined {
  if (root === '/') return inside
  let pending = inside.split('/').filter((c) => c !== '' && c !== '.')
  const done: string[] = []
  for (let hops = 0; pending.length > 0; ) {
    const c = pending.shift() as string
    if (c === '..') {
      done.pop()
      continue
    }
    const host = posix.join(root, ...done, c)
    let isLink = false
    try {
      isLink = lstatSync(host).isSymbolicLink()
    } catch {
      return undefined
    }
    if (!isLink) {
      done.push(c)
      continue
    }
    if (++hops > 40) return undefined // ELOOP
    const target = readlinkSync(host)
    const rest = target.split('/').filter((x) => x !== '' && x !== '.')
    if (target.startsWith('/')) done.length = 0
    pending = [...rest, ...pending]
  }
  return posix.join(root, ...done)
}

function executableFile(hostPath: string | undefined): boolean {
  if (hostPath === undefined) return false
  try {
    if (!statSync(hostPath).isFile()) return false
    accessSync(hostPath, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Checks that `cmd` exists and is executable inside `root` with the container's `path` (PATH);
 * throws CliError (exit 127, as Docker and shells) naming the command otherwise.
 */
export function checkCommand(root: string, cmd: string, path: string): void {
  const where = root === '/' ? '' : ` in ${root}`
  if (cmd === '') throw new CliError('no command given', 'put the command after --, e.g. berth run -- sleep 60', 127)
  if (cmd.includes('/')) {
    const abs = posix.resolve('/', cmd)
    if (!executableFile(resolveInRoot(root, abs))) throw new CliError(`command ${cmd} not found or not executable${where}`, 'check the path (and --rootfs)', 127)
    return
  }
  for (const dir of path.split(':')) {
    if (dir === '' || !dir.startsWith('/')) continue
    if (executableFile(resolveInRoot(root, posix.join(dir, cmd)))) return
  }
  throw new CliError(`command "${cmd}" not found in PATH=${path}${where}`, 'check the command name, -e PATH=..., or --rootfs', 127)
}
