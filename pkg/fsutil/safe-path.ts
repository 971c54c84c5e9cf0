// Joining untrusted names (network names, container IDs, interface names) under a state directory
// without letting them escape it. The check is lexical: it does not resolve symlinks, so the state
// directory itself must not be writable by anyone we do not trust (CNI state dirs are root-owned).
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { CniCode, CniError } from '../errors/cni-error.js'

export interface SafeJoinOptions {
  /** the code to raise: InvalidConfig (7, the default: names from the network config) or InvalidEnv (4: CNI_* values) */
  code?: typeof CniCode.InvalidConfig | typeof CniCode.InvalidEnv
  /** what the parts are, for the message: "container ID", "network name" */
  what?: string
}

/** NAME_MAX: the longest single path component Linux accepts. */
const NAME_MAX = 255

/**
 * `root` joined with `parts`; each part may hold several "/"-separated components, but none may be
 * empty, "." or "..", contain NUL, or be absolute. The result is always strictly inside `root`.
 */
export function safeJoin(root: string, parts: string | readonly string[], opts: SafeJoinOptions = {}): string {
  const list = typeof parts === 'string' ? [parts] : parts
  const fail = (part: string, why: string) =>
    new CniError(opts.code ?? CniCode.InvalidConfig, `invalid ${opts.what ?? 'path component'} ${JSON.stringify(part)}: ${why}`)
  if (root === '' || root.includes('\0')) throw fail(root, 'the state directory must be a path without NUL')
  if (list.length === 0) throw fail('', 'nothing to join')
  for (const part of list) {
    if (part.includes('\0')) throw fail(part, 'must not contain NUL')
    if (isAbsolute(part)) throw fail(part, 'must be a relative name')
    for (const c of part.split('/')) {
      if (c === '' || c === '.' || c === '..') throw fail(part, 'must not contain empty, "." or ".." components')
      if (Buffer.byteLength(c, 'utf8') > NAME_MAX) throw fail(part, `a component is longer than ${NAME_MAX} bytes`)
    }
  }
  const joined = join(root, ...list)
  // Belt and braces: the lexical checks above already guarantee this.
  const rel = relative(resolve(root), resolve(joined))
  if (rel === '' || isAbsolute(rel) || rel.split(sep)[0] === '..') throw fail(list.join('/'), 'escapes the state directory')
  return joined
}
