// The mechanics under parseJson/parseWith (schema.ts) and parseResult (result.ts): JSON text → value → typed
// value, each failure a CniError whose message names the field. Kept apart so result.ts and schema.ts share
// it without importing each other.
// zod/mini loads no locale (its messages are all "Invalid input"), so issues are worded here, from their
// codes, which also keeps the wording stable for tests.
import * as z from 'zod/mini'
import { CniCode, CniError } from '../errors/cni-error.js'
import { type Canonical, type CanonicaliseOptions, canonicalise, pathAsSent } from './go-keys.js'

// Non-fatal, like Go's encoding/json, which replaces invalid UTF-8 instead of failing.
const utf8 = new TextDecoder()

/**
 * Deeper values are refused before parsing: every walk over a decoded value (key matching, schemas, result
 * conversion) recurses, and a 100,000-level value would overflow the stack. Go's decoder stops at 10,000;
 * no CNI configuration comes near either.
 */
export const MAX_DEPTH = 1000

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
export function nestingDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth)
    else if (c === 0x7d || c === 0x5d) depth--
  }
  return max
}

/** JSON.parse with a CniError 6 naming `what` (and the position, from the engine's message). */
export function decodeJson(raw: string | Uint8Array, what: string): unknown {
  const text = typeof raw === 'string' ? raw : utf8.decode(raw)
  if (text.trim() === '') throw new CniError(CniCode.DecodingFailure, `failed to parse ${what}: empty input`)
  const depth = nestingDepth(text)
  if (depth > MAX_DEPTH) {
    throw new CniError(CniCode.DecodingFailure, `failed to parse ${what}: objects and arrays nested ${depth} levels deep (at most ${MAX_DEPTH})`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    throw new CniError(CniCode.DecodingFailure, `failed to parse ${what}: ${why}`, undefined, { cause: e })
  }
}

/**
 * Runs a zod schema after matching the value's keys to its fields as Go does (go-keys.ts). On failure:
 * CniError `code`, msg "<lead> <what>: <first issue>", details one line per issue "path: message", each
 * path with the keys as the runtime spelled them.
 */
export function decodeWith<T>(schema: z.core.$ZodType<T>, value: unknown, what: string, code: number, lead: string, opts?: CanonicaliseOptions): T {
  return decodeCanonical(schema, canonicalise(schema, value, opts), what, code, lead)
}

/** decodeWith for a value already canonicalised with `schema` (to look at some fields first). */
export function decodeCanonical<T>(schema: z.core.$ZodType<T>, c: Canonical, what: string, code: number, lead: string): T {
  const r = z.safeParse(schema, c.value)
  if (r.success) {
    c.adopt(r.data)
    return r.data
  }
  throw issuesError(r.error.issues, c.value, what, code, lead)
}

export function issuesError(issues: readonly z.core.$ZodIssue[], root: unknown, what: string, code: number, lead: string): CniError {
  const lines = issues.map((i) => describeIssue(i, root))
  return new CniError(code, `${lead} ${what}: ${lines[0] ?? 'invalid input'}`, lines.join('\n'))
}

/** "ipam.ranges[0][1].subnet"; keys that are not identifiers are quoted: '["cni.dev/attachments"][0]'. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

export function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const path = formatPath(pathAsSent(root, issue.path))
  const msg = issueMessage(issue, valueAt(root, issue.path))
  return path === '' ? msg : `${path}: ${msg}`
}

// What zod/mini puts in every issue when no locale is loaded; anything else is a message a schema chose.
const DEFAULT_MESSAGE = 'Invalid input'

function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.message !== DEFAULT_MESSAGE && issue.code !== 'invalid_type') return `${issue.message}, received ${preview(value)}`
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `missing (expected ${issue.expected})` : `expected ${issue.expected}, received ${typeName(value)}`
    case 'too_small':
      return `${bound(issue.origin, 'at least', issue.inclusive ? '>=' : '>', issue.minimum)}, received ${preview(value)}`
    case 'too_big':
      return `${bound(issue.origin, 'at most', issue.inclusive ? '<=' : '<', issue.maximum)}, received ${preview(value)}`
    case 'invalid_format':
      return `expected ${issue.format} format, received ${preview(value)}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(', ')}, received ${preview(value)}`
    case 'invalid_union': {
      // Every alternative refused the type: say which types would do.
      const expected: string[] = []
      for (const branch of issue.errors) {
        for (const i of branch) if (i.code === 'invalid_type' && i.path.length === 0) expected.push(i.expected)
      }
      return expected.length > 0 ? `expected ${expected.join(' or ')}, received ${typeName(value)}` : `no alternative matches, received ${preview(value)}`
    }
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
    default:
      return issue.message
  }
}

// Sizes of strings and arrays read as lengths, numbers as comparisons.
function bound(origin: string, words: string, op: string, limit: number | bigint): string {
  const one = Number(limit) === 1
  const unit = origin === 'string' ? (one ? ' character' : ' characters') : origin === 'array' || origin === 'set' ? (one ? ' item' : ' items') : ''
  return unit === '' ? `must be ${op} ${String(limit)}` : `must have ${words} ${String(limit)}${unit}`
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<PropertyKey, unknown>)[key]
  }
  return cur
}

export function typeName(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

/** A short rendering of a bad value for a message: strings quoted and cut at 60 characters. */
export function preview(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  return typeName(v)
}
