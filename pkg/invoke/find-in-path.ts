// Locates a plugin executable by its CNI type in CNI_PATH (libcni invoke.FindInPath).
import { accessSync, constants, statSync } from 'node:fs'
import { join } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'

const TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export function findInPath(type: string, paths: readonly string[]): string {
  if (!TYPE_RE.test(type)) {
    throw new CniError(CniCode.InvalidConfig, `invalid plugin type "${type}": a type is a file name (letters, digits, '.', '_', '-')`)
  }
  if (paths.length === 0) {
    throw new CniError(CniCode.InvalidEnv, `cannot find plugin "${type}": CNI_PATH is empty`)
  }
  for (const dir of paths) {
    const p = join(dir, type)
    try {
      if (statSync(p).isFile()) {
        accessSync(p, constants.X_OK)
        return p
      }
    } catch {
      // not in this directory; try the next
    }
  }
  throw new CniError(CniCode.PluginExecFailed, `failed to find plugin "${type}" in path [${paths.join(' ')}]: install it there or fix CNI_PATH`)
}
