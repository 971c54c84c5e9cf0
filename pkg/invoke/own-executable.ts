// Is the executable CNI_PATH resolved for a type this very berth build's own? Then the caller may run that
// type's code in-process (same code, same build) instead of starting another process.
//
// Two proofs count:
// 1. A berth shim (native/shim) of this build: an ELF file carrying the marker `berth-shim build=<id>` with
//    the id compiled into the running bundle. The shim runs this build's code whether it reaches the daemon
//    or falls back to its lib/<type>, so where it lies does not matter. The file is read whole (a shim is
//    ~20 KB); the id found is cached by dev/ino/mtime/size, so a bridge pays for it once per file.
// 2. The Node launcher of that type beside the running launcher (both in bin/lib, symlinks resolved), as
//    scripts/build.mjs writes it (its `berth-executable: <type>` line and the line loading <type>.js): the
//    build writes all of bin/lib together, so the launcher beside ours runs the code we bundled.
// Anything else — the reference plugin, a wrapper script, another build's shim, a launcher elsewhere, the
// sources run by tests (build id "dev") — is exec'd as always.
import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { berthBuildId, DEV } from '../build-info/build-info.js'

/** Launcher markers, written by scripts/build.mjs (keep the two in step). */
export const launcherMarker = (type: string): string => `// berth-executable: ${type}\n`
const loadsBundle = (type: string): string => `join(__dirname, ${JSON.stringify(type)})`
/** The shim's marker (native/shim/shim.c, berth_shim_marker), followed by the 16-hex-digit build id. */
export const SHIM_MARKER = 'berth-shim build='
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46])
/** Larger files are not a shim: no reason to read them. */
const SHIM_MAX_SIZE = 1 << 20

/** The directory of the running bundle: its launcher passes the bundle's own path, bin/lib/<type>.js. */
function selfDir(): string | undefined {
  try {
    return dirname(realpathSync(fileURLToPath(import.meta.url)))
  } catch {
    return undefined
  }
}

export function isOwnExecutable(found: string, type: string, self: string | undefined = selfDir(), build: string = berthBuildId()): boolean {
  return isOwnShim(found, build) || isOwnLauncher(found, type, self)
}

/** Shim file identity → the build id embedded in it (undefined: not a shim). */
const shimIds = new Map<string, string | undefined>()

/** A berth shim (followed through symlinks) whose embedded build id is `build`. */
export function isOwnShim(found: string, build: string): boolean {
  if (build === DEV) return false
  try {
    return shimBuildId(found) === build
  } catch {
    return false
  }
}

/** The build id of the shim at `path`, undefined when it is not one; throws when unreadable. */
export function shimBuildId(path: string): string | undefined {
  const fd = openSync(path, 'r')
  try {
    const st = fstatSync(fd, { bigint: true })
    const key = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`
    if (shimIds.has(key)) return shimIds.get(key)
    let id: string | undefined
    if (st.isFile() && st.size <= SHIM_MAX_SIZE) {
      const data = readAll(fd, Number(st.size))
      const at = data.indexOf(SHIM_MARKER)
      const found = at < 0 ? '' : data.subarray(at + SHIM_MARKER.length, at + SHIM_MARKER.length + 16).toString('latin1')
      if (data.subarray(0, 4).equals(ELF_MAGIC) && /^[0-9a-f]{16}$/.test(found)) id = found
    }
    shimIds.set(key, id)
    return id
  } finally {
    closeSync(fd)
  }
}

function isOwnLauncher(found: string, type: string, self: string | undefined): boolean {
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

function readAll(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size)
  let n = 0
  while (n < size) {
    const r = readSync(fd, buf, n, size - n, n)
    if (r === 0) break
    n += r
  }
  return buf.subarray(0, n)
}

function readHead(path: string, max: number): string {
  const fd = openSync(path, 'r')
  try {
    return readAll(fd, max).toString('utf8')
  } finally {
    closeSync(fd)
  }
}
