// JSON keys matched to schema fields as Go's encoding/json matches them to struct fields. The reference
// plugins are Go programs, and runtimes lean on that: containerd's go-cni sends capabilities in Go's
// default spelling ("HostPort", "Subnet", "IngressRate") because its structs have no json tags.
// Every parse (decode.ts decodeWith) runs the value through here first, so a schema always sees its own
// field names. The rules, checked against the Go 1.19 reference binaries:
// - a key equal to a field name goes to that field; otherwise to the first field, in shape order, whose
//   name equals it case-insensitively as Go folds: ASCII letters, plus U+212A KELVIN SIGN as k and U+017F
//   LATIN SMALL LETTER LONG S as s; anything else must match exactly ("cni.dev/valid-attachments");
// - keys that match no field stay as sent (loose objects pass them through);
// - several keys landing on one field are decoded into it in document order: scalars and untyped values
//   are replaced, objects merge into the object already there (Go reuses the struct, pointer or map),
//   arrays decode element by element into the elements already there, as Go decodes into a slice (a type
//   with its own UnmarshalJSON, marked decodedWhole, is replaced instead);
// - record (Go map) keys are kept exactly; map values are replaced, never merged (Go zeroes a map element
//   before decoding into it).
// A value that was merged here keeps its raw occurrences (provenance below), so a later parse with a wider
// schema (a plugin's ipam section after the envelope's) decodes them again with its own fields, as the Go
// plugin, which has the whole struct at once, would.
// Not modelled: a key repeated in the exact same spelling (JSON.parse keeps the last, as libcni's round trip
// through a map does before any plugin sees it), and null, which Go skips or reads as "unset" by type and
// berth's schemas refuse where they expect a value.
import type * as z from 'zod/mini'

type Schema = z.core.$ZodType

/** The schemas a value position can have (several: the alternatives of a union), resolved on first use. */
interface Ref {
  readonly schemas: readonly Schema[]
  node?: Node
}
interface Field extends Ref {
  readonly name: string
}
/** A Go struct: zod objects. */
interface StructNode {
  readonly kind: 'struct'
  readonly exact: ReadonlyMap<string, Field>
  /** folded name → the first field with it; empty when keys match only exactly (exactKeys) */
  readonly folded: ReadonlyMap<string, Field>
  /** lengths of the folded names: folding keeps a key's length, so other keys need no folding */
  readonly lengths: ReadonlySet<number>
  /** the schema of keys that match no field, when it is more than "anything" */
  readonly extra: Ref | undefined
  /** Go decodes it with its own UnmarshalJSON, into a fresh value (see decodedWhole) */
  readonly whole: boolean
}
/** A Go map: zod records. */
interface MapNode {
  readonly kind: 'map'
  readonly value: Ref
}
/** A Go slice: zod arrays and tuples. */
interface ListNode {
  readonly items: readonly Ref[]
  readonly rest: Ref | undefined
}
/** What a JSON object or array at this position decodes into; neither for scalars and untyped values. */
interface Node {
  readonly obj?: StructNode | MapNode
  readonly list?: ListNode
}

interface Provenance {
  /** what was decoded into this value, in order; more than one when several keys landed on its field */
  readonly sources: readonly unknown[]
  /** field → the key the runtime used for it, where they differ */
  readonly spelled: ReadonlyMap<string, string>
  /** every matched key was the capitalised field name (Go's default spelling, as go-cni sends) */
  readonly goStyle: boolean
}

export interface CanonicaliseOptions {
  /**
   * Take each object's keys in Go's map order (sorted by bytes) instead of document order: for values that
   * Go reads into map[string]interface{} and marshals again before decoding (cni's prevResult).
   */
  sortedKeys?: boolean
}

export interface Canonical {
  /** the value with field names as the schema spells them */
  readonly value: unknown
  /** Lets the schema's output answer keyAsSent/pathAsSent like the canonical value does. */
  adopt(out: unknown): void
}

const LEAF: Node = {}
const nodes = new WeakMap<Schema, Node>()
const roots = new WeakMap<Schema, Ref>()
const exactOnly = new WeakSet<Schema>()
const wholeValues = new WeakSet<Schema>()
const provenance = new WeakMap<object, Provenance>()
/** slice elements past the length, within Go's capacity: a later, longer array decodes into them */
const spare = new WeakMap<readonly unknown[], unknown[]>()

/**
 * Marks an object schema whose keys match only exactly: what Go reads from a map[string]interface{} by
 * key (libcni's conflist). Returns the schema.
 */
export function exactKeys<S extends Schema>(schema: S): S {
  exactOnly.add(schema)
  return schema
}

/**
 * Marks an object schema whose Go type has its own UnmarshalJSON (cni's Route and IPConfig): that decodes
 * into a fresh value and copies it over, so a later key landing on the same field replaces it instead of
 * merging into it. Returns the schema.
 */
export function decodedWhole<S extends Schema>(schema: S): S {
  wholeValues.add(schema)
  return schema
}

/** The value with its keys renamed to `schema`'s fields (no validation). One pass; unchanged parts are shared. */
export function canonicalise(schema: Schema, value: unknown, opts: CanonicaliseOptions = {}): Canonical {
  let root = roots.get(schema)
  if (root === undefined) roots.set(schema, (root = { schemas: [schema] }))
  const ctx: Ctx = { sorted: opts.sortedKeys ?? false, marked: undefined }
  const v = decode(root, value, undefined, ctx)
  return {
    value: v,
    adopt: (out) => {
      if (ctx.marked !== undefined) transfer(v, out, ctx.marked)
    },
  }
}

/** The key the runtime sent for `key` of `obj`; for a missing key, the spelling its siblings suggest. */
export function keyAsSent(obj: unknown, key: string): string {
  const p = isObject(obj) ? provenance.get(obj) : undefined
  if (p === undefined) return key
  const sent = p.spelled.get(key)
  if (sent !== undefined) return sent
  return p.goStyle && !Object.hasOwn(obj as object, key) ? capitalise(key) : key
}

/** A path into a parsed value (canonical keys) with every key as the runtime sent it. */
export function pathAsSent(root: unknown, path: readonly PropertyKey[]): PropertyKey[] {
  const out: PropertyKey[] = []
  let cur = root
  for (const key of path) {
    out.push(typeof key === 'string' ? keyAsSent(cur, key) : key)
    cur = isObject(cur) ? (cur as Record<PropertyKey, unknown>)[key] : undefined
  }
  return out
}

// --- schema → node -----------------------------------------------------------------------------------

interface Def {
  type: string
  innerType?: Schema
  getter?: () => Schema
  in?: Schema
  shape?: Record<string, Schema>
  catchall?: Schema
  valueType?: Schema
  element?: Schema
  items?: readonly Schema[]
  rest?: Schema | null
  options?: readonly Schema[]
  left?: Schema
  right?: Schema
}

const defOf = (s: Schema): Def => s._zod.def as unknown as Def

function nodeOf(schema: Schema): Node {
  let n = nodes.get(schema)
  if (n === undefined) {
    n = build(schema)
    nodes.set(schema, n)
  }
  return n
}

function resolve(ref: Ref): Node {
  if (ref.node === undefined) {
    const [only] = ref.schemas
    ref.node = ref.schemas.length === 1 && only !== undefined ? nodeOf(only) : combine(ref.schemas.map(nodeOf))
  }
  return ref.node
}

function build(schema: Schema): Node {
  const def = defOf(schema)
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
    case 'success':
      return def.innerType === undefined ? LEAF : nodeOf(def.innerType)
    case 'lazy':
      return def.getter === undefined ? LEAF : nodeOf(def.getter())
    case 'pipe':
      // A preprocessing pipe changes the value before any schema sees it: nothing to match against.
      return def.in === undefined || defOf(def.in).type === 'transform' ? LEAF : nodeOf(def.in)
    case 'object':
      return { obj: structOf(schema, def) }
    case 'record':
      return def.valueType === undefined ? LEAF : { obj: { kind: 'map', value: { schemas: [def.valueType] } } }
    case 'array':
      return def.element === undefined ? LEAF : { list: { items: [], rest: { schemas: [def.element] } } }
    case 'tuple':
      return { list: { items: (def.items ?? []).map((s) => ({ schemas: [s] })), rest: def.rest ? { schemas: [def.rest] } : undefined } }
    case 'union':
      return combine((def.options ?? []).map(nodeOf))
    case 'intersection':
      return def.left === undefined || def.right === undefined ? LEAF : combine([nodeOf(def.left), nodeOf(def.right)])
    default:
      return LEAF
  }
}

function structOf(schema: Schema, def: Def): StructNode {
  const exact = new Map<string, Field>()
  const folded = new Map<string, Field>()
  const fold = !exactOnly.has(schema)
  for (const [name, s] of Object.entries(def.shape ?? {})) addField(exact, folded, name, [s], fold)
  const c = def.catchall === undefined ? undefined : defOf(def.catchall).type
  const extra = def.catchall === undefined || c === 'unknown' || c === 'any' || c === 'never' ? undefined : { schemas: [def.catchall] }
  return { kind: 'struct', exact, folded, lengths: lengthsOf(folded), extra, whole: wholeValues.has(schema) }
}

function addField(exact: Map<string, Field>, folded: Map<string, Field>, name: string, schemas: readonly Schema[], fold: boolean): void {
  const f: Field = { name, schemas }
  exact.set(name, f)
  // Go folds non-ASCII field names with full Unicode rules; every CNI and berth field name is ASCII, so
  // such a name (there is none) would only match exactly.
  const key = foldKey(name)
  if (fold && ASCII.test(name) && !folded.has(key)) folded.set(key, f)
}

/**
 * Go has no unions. A union position is read as one struct with every alternative's fields (in option
 * order, the first alternative's field first), so whichever alternative zod then picks sees its own field
 * names; a map alternative applies only when no alternative is a struct. Arrays likewise.
 */
function combine(parts: readonly Node[]): Node {
  const structs: StructNode[] = []
  const maps: MapNode[] = []
  const lists: ListNode[] = []
  for (const p of parts) {
    if (p.obj?.kind === 'struct') structs.push(p.obj)
    else if (p.obj?.kind === 'map') maps.push(p.obj)
    if (p.list !== undefined) lists.push(p.list)
  }
  const obj = structs.length > 1 ? mergeStructs(structs) : (structs[0] ?? maps[0])
  const list = lists.length > 1 ? mergeLists(lists) : lists[0]
  return { ...(obj !== undefined ? { obj } : {}), ...(list !== undefined ? { list } : {}) }
}

const lengthsOf = (folded: ReadonlyMap<string, Field>): ReadonlySet<number> => new Set([...folded.keys()].map((k) => k.length))

function mergeStructs(structs: readonly StructNode[]): StructNode {
  const schemas = new Map<string, Schema[]>()
  for (const s of structs) {
    for (const f of s.exact.values()) schemas.set(f.name, [...(schemas.get(f.name) ?? []), ...f.schemas])
  }
  const fold = structs.every((s) => s.folded.size > 0 || s.exact.size === 0)
  const exact = new Map<string, Field>()
  const folded = new Map<string, Field>()
  for (const [name, list] of schemas) addField(exact, folded, name, list, fold)
  const extras = structs.flatMap((s) => s.extra?.schemas ?? [])
  return { kind: 'struct', exact, folded, lengths: lengthsOf(folded), extra: extras.length > 0 ? { schemas: extras } : undefined, whole: structs.every((s) => s.whole) }
}

function mergeLists(lists: readonly ListNode[]): ListNode {
  const items: Ref[] = []
  const width = Math.max(...lists.map((l) => l.items.length))
  for (let i = 0; i < width; i++) items.push({ schemas: lists.flatMap((l) => (l.items[i] ?? l.rest)?.schemas ?? []) })
  const rest = lists.flatMap((l) => l.rest?.schemas ?? [])
  return { items, rest: rest.length > 0 ? { schemas: rest } : undefined }
}

// --- value decoding ----------------------------------------------------------------------------------

interface Ctx {
  readonly sorted: boolean
  /** canonical values that carry provenance or contain one: adopt() copies along these */
  marked: Set<object> | undefined
}

const ASCII = /^[\x00-\x7f]*$/
const FOLDABLE = /[A-Z\u017f\u212a]/g
const foldChar = (c: string): string => (c === '\u212a' ? 'k' : c === '\u017f' ? 's' : String.fromCharCode(c.charCodeAt(0) + 32))
/**
 * Go's case folding for matching keys to ASCII field names: JS toLowerCase folds far more outside ASCII
 * (and leaves the long s alone), so it serves only for ASCII keys.
 */
const foldKey = (key: string): string => (ASCII.test(key) ? key.toLowerCase() : key.replace(FOLDABLE, foldChar))

function fieldFor(n: StructNode, key: string): Field | undefined {
  return n.exact.get(key) ?? (n.lengths.has(key.length) ? n.folded.get(foldKey(key)) : undefined)
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null
const isRecord = (v: unknown): v is Record<string, unknown> => isObject(v) && !Array.isArray(v)
const capitalise = (s: string): string => (/^[a-z]/.test(s) ? s[0]?.toUpperCase() + s.slice(1) : s)
const sourcesOf = (v: unknown): readonly unknown[] => (isObject(v) ? provenance.get(v)?.sources : undefined) ?? [v]

/** Own data property, also for "__proto__" (which JSON.parse makes an own key). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true })
  else o[k] = v
}

function copyKeys(from: Record<string, unknown>, keys: readonly string[], end: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < end; i++) {
    const k = keys[i] as string
    setOwn(out, k, from[k])
  }
  return out
}

// Go's map order (json.Marshal sorts map keys by bytes): code point order, which UTF-16 order is not
// past the surrogates.
function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i) as number
    const y = b.codePointAt(i) as number
    if (x !== y) return x - y
    if (x > 0xffff) i++
  }
  return a.length - b.length
}

const keysOf = (o: Record<string, unknown>, ctx: Ctx): string[] => (ctx.sorted ? Object.keys(o).sort(byCodePoint) : Object.keys(o))

function mark(ctx: Ctx, v: object): void {
  ;(ctx.marked ??= new Set()).add(v)
}

/** True (and remembered) when v must have its provenance carried onto the schema's output. */
function note(v: unknown, ctx: Ctx): boolean {
  if (!isObject(v) || !(ctx.marked?.has(v) || provenance.has(v))) return false
  mark(ctx, v)
  return true
}

/** Decodes `raw` into the position `ref`, into `into` when an earlier key already filled it. */
function decode(ref: Ref, raw: unknown, into: unknown, ctx: Ctx): unknown {
  if (!isObject(raw)) return raw
  const n = resolve(ref)
  const target = Array.isArray(raw) ? n.list : n.obj
  if (target === undefined) return raw
  const p = provenance.get(raw)
  if (p !== undefined && p.sources.length > 1) {
    // Merged by an earlier parse: decode what was sent again, with this schema's fields.
    let acc = into
    for (const s of p.sources) acc = decode(ref, s, acc, ctx)
    return acc
  }
  if (Array.isArray(raw)) return decodeList(n.list as ListNode, raw, into, ctx)
  const obj = raw as Record<string, unknown>
  const o = n.obj as StructNode | MapNode
  return o.kind === 'struct' ? decodeStruct(o, obj, o.whole ? undefined : into, ctx) : decodeMap(o, obj, into, ctx)
}

function decodeStruct(n: StructNode, obj: Record<string, unknown>, into: unknown, ctx: Ctx): unknown {
  // spelling from an earlier parse, when obj is that parse's output
  const prior = provenance.get(obj)
  const base = isRecord(into) ? into : undefined
  const keys = keysOf(obj, ctx)
  let out: Record<string, unknown> | undefined
  let spelled: Map<string, string> | undefined
  let marked = false
  let fields = 0
  let capitalised = 0
  if (base !== undefined) {
    out = copyKeys(base, Object.keys(base), Object.keys(base).length)
    const bp = provenance.get(base)
    spelled = new Map(bp?.spelled)
    if (bp?.goStyle) fields = capitalised = 1
  }
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string
    const v = obj[k]
    const f = fieldFor(n, k)
    const sent = prior?.spelled.get(k) ?? k
    if (f !== undefined) {
      fields++
      if (sent !== f.name && sent === capitalise(f.name)) capitalised++
    }
    if (out === undefined) {
      if (f === undefined || f.name === k) {
        const ref = f ?? n.extra
        const cv = ref === undefined ? v : decode(ref, v, undefined, ctx)
        if (cv === v) {
          if (note(cv, ctx)) marked = true
          continue
        }
        out = copyKeys(obj, keys, i)
        spelled = new Map(prior?.spelled)
        setOwn(out, k, cv)
        if (note(cv, ctx)) marked = true
        continue
      }
      out = copyKeys(obj, keys, i)
      spelled = new Map(prior?.spelled)
    }
    if (f === undefined) {
      const cv = n.extra === undefined ? v : decode(n.extra, v, undefined, ctx)
      // A key this schema does not know, sent again (only a merge can do that): the last one wins and
      // moves to the end, so a later, wider schema still meets its spellings in document order.
      if (Object.hasOwn(out, k)) delete out[k]
      setOwn(out, k, cv)
      if (note(cv, ctx)) marked = true
      continue
    }
    const cv = decode(f, v, Object.hasOwn(out, f.name) ? out[f.name] : undefined, ctx)
    setOwn(out, f.name, cv)
    if (note(cv, ctx)) marked = true
    if (sent === f.name) spelled?.delete(f.name)
    else spelled?.set(f.name, sent)
  }
  if (out === undefined) {
    if (marked) mark(ctx, obj)
    return obj
  }
  const sources = base !== undefined ? [...sourcesOf(base), obj] : (prior?.sources ?? [obj])
  if ((spelled !== undefined && spelled.size > 0) || sources.length > 1) {
    provenance.set(out, { sources, spelled: spelled ?? new Map(), goStyle: fields > 0 && capitalised === fields })
    marked = true
  }
  if (marked) mark(ctx, out)
  return out
}

function decodeMap(n: MapNode, obj: Record<string, unknown>, into: unknown, ctx: Ctx): unknown {
  const base = isRecord(into) ? into : undefined
  const keys = keysOf(obj, ctx)
  let out = base === undefined ? undefined : copyKeys(base, Object.keys(base), Object.keys(base).length)
  let marked = false
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string
    const v = obj[k]
    const cv = decode(n.value, v, undefined, ctx)
    if (note(cv, ctx)) marked = true
    if (out === undefined) {
      if (cv === v) continue
      out = copyKeys(obj, keys, i)
    }
    setOwn(out, k, cv)
  }
  if (out === undefined) {
    if (marked) mark(ctx, obj)
    return obj
  }
  if (base !== undefined) {
    provenance.set(out, { sources: [...sourcesOf(base), obj], spelled: new Map(), goStyle: false })
    marked = true
  }
  if (marked) mark(ctx, out)
  return out
}

/** Go's slice capacity after appending n elements one by one to a nil slice (encoding/json's growth). */
function capacityFor(n: number): number {
  let cap = 0
  while (cap < n) cap = Math.max(cap + (cap >> 1), 4)
  return cap
}

function decodeList(n: ListNode, arr: readonly unknown[], into: unknown, ctx: Ctx): unknown {
  const at = (i: number): Ref | undefined => n.items[i] ?? n.rest
  let marked = false
  if (!Array.isArray(into)) {
    let out: unknown[] | undefined
    for (let i = 0; i < arr.length; i++) {
      const ref = at(i)
      const v = arr[i]
      const cv = ref === undefined ? v : decode(ref, v, undefined, ctx)
      if (note(cv, ctx)) marked = true
      if (out === undefined) {
        if (cv === v) continue
        out = arr.slice(0, i)
      }
      out.push(cv)
    }
    const result = out ?? arr
    if (marked) mark(ctx, result)
    return result
  }
  // Into the slice an earlier key made (encoding/json's array()): element i decodes into the element
  // already at i, also one past the old length but within the capacity; the length becomes this array's.
  let backing = spare.get(into)?.slice() ?? [...into, ...new Array<unknown>(capacityFor(into.length) - into.length).fill(undefined)]
  let len = into.length
  for (let i = 0; i < arr.length; i++) {
    if (i >= backing.length) {
      // growing copies only the elements in use
      const grown = backing.slice(0, len)
      const cap = Math.max(backing.length + (backing.length >> 1), 4)
      while (grown.length < cap) grown.push(undefined)
      backing = grown
    }
    if (i >= len) len = i + 1
    const ref = at(i)
    const cv = ref === undefined ? arr[i] : decode(ref, arr[i], backing[i], ctx)
    backing[i] = cv
    if (note(cv, ctx)) marked = true
  }
  // An empty array is a new slice in Go, without capacity.
  const out = arr.length === 0 ? [] : backing.slice(0, arr.length)
  if (arr.length > 0 && backing.slice(arr.length).some((e) => e !== undefined)) spare.set(out, backing)
  provenance.set(out, { sources: [...sourcesOf(into), arr], spelled: new Map(), goStyle: false })
  mark(ctx, out)
  return out
}

/** Copies provenance from canonical values onto the schema's output, which mirrors their shape. */
function transfer(c: unknown, o: unknown, marked: ReadonlySet<object>): void {
  if (!isObject(c) || !isObject(o) || !marked.has(c)) return
  const p = provenance.get(c)
  if (p !== undefined && o !== c) provenance.set(o, p)
  if (Array.isArray(c)) {
    if (Array.isArray(o)) c.forEach((e, i) => transfer(e, o[i], marked))
    return
  }
  const src = c as Record<string, unknown>
  const dst = o as Record<string, unknown>
  for (const k of Object.keys(src)) if (Object.hasOwn(dst, k)) transfer(src[k], dst[k], marked)
}
