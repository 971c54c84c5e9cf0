// Host tools (util-linux nsenter/unshare, hostname) by absolute path: they are exec'd with the
// CONTAINER's environment, whose PATH may not lead to them.
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../cli-error.js'

const cache = new Map<string, string>()

export function hostTool(name: string): string {
  const hit = cache.get(name)
  if (hit !== undefined) return hit
  const dirs = [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter((d) => d.startsWith('/'))
  for (const d of dirs) {
    const p = join(d, name)
    try {
      accessSync(p, constants.X_OK)
      cache.set(name, p)
      return p
    } catch {
      // next
    }
  }
  throw new CliError(`${name} not found on this host`, name === 'hostname' ? 'install the hostname package' : 'install util-linux')
}
