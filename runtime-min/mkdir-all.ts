// `mkdir -p` that always ends. Node's mkdirSync({ recursive: true }) spins forever on a path under /proc
// such as /proc/self/x (mkdir says ENOENT, the parent exists, it retries), and the CLI takes directories
// from the user (--dir, --cni-conf-dir, BERTH_ROOT): create one level at a time instead.
import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

export function mkdirAll(dir: string, mode = 0o755): void {
  try {
    mkdirSync(dir, { mode })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return
    const parent = dirname(dir)
    if (code !== 'ENOENT' || parent === dir) throw e
    mkdirAll(parent, mode)
    mkdirSync(dir, { mode })
  }
}
