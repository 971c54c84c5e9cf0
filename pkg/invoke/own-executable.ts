// Is the executable CNI_PATH resolved for a type this very berth installation's own build of it? Then the
// caller may run that type's code in-process (same code, same build) instead of starting another Node.
//
// Identity: the found file, symlinks resolved, must be the file of that name beside the running executable
// (symlinks resolved too), and that file must be the launcher scripts/build.mjs generates for the type
// (its `berth-executable: <type>` line and the line loading bin/lib/<type>.js). Same place ⇒ same build:
// the build writes every bundle of bin/ together, so the host-local beside the bridge runs the code the
// bridge bundled. A path comparison alone would miss a wrapper script put in place of berth's host-local;
// content alone would take another berth build (another version) for ours. Anything else — the reference
// plugin, a wrapper, a copy of bin/ elsewhere, the sources run by tests — is exec'd as always.
import { closeSync, openSync, readSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Launcher markers, written by scripts/build.mjs (keep the two in step). */
export const launcherMarker = (type: string): string => `// berth-executable: ${type}\n`
const loadsBundle = (type: string): string => `join(__dirname, "lib", ${JSON.stringify(type)})`

/** The directory of the running executable: in a bundle, import.meta.url is its launcher's own path. */
function selfDir(): string | undefined {
  try {
    return dirname(realpathSync(fileURLToPath(import.meta.url)))
  } catch {
    return undefined
  }
}

export function isOwnExecutable(found: string, type: string, self: string | undefined = selfDir()): boolean {
  if (self === undefined) return false
  try {
    const sibling = realpathSync(join(self, type))
    if (realpathSync(found) !== sibling) return false
    const head = readHead(sibling, 4096)
    return head.startsWith('#!') && head.includes(launcherMarker(type)) && head.includes(loadsBundle(type))
  } catch {
    // no sibling of that name, or unreadable: not provably ours
    return false
  }
}

function readHead(path: string, max: number): string {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(max)
    return buf.subarray(0, readSync(fd, buf, 0, max, 0)).toString('utf8')
  } finally {
    closeSync(fd)
  }
}
