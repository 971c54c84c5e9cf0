// An nftables transaction built as libnftables JSON (libnftables-json(5)): `{"nftables": [cmd, ...]}`.
// Pure data: nothing here touches the kernel, so batches can be compared in unit tests. nft.ts applies
// a batch in one nft_run_cmd_from_buffer call, which the kernel commits or aborts as a whole.
//
// Validation happens here, before libnftables sees the text, because libnftables 1.0.6 does not check
// some limits on its JSON path: a set-element comment of 254 bytes or more makes it call exit() from
// inside our process ("Memory allocation failure"), while its text parser rejects anything over 128.
import { CniCode, CniError } from '../errors/cni-error.js'

export const NFT_FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const
export type NftFamily = (typeof NFT_FAMILIES)[number]

/** Any libnftables JSON value: expressions ("10.0.0.1", 80, {concat: [...]}, {prefix: {...}}), statements, verdicts. */
export type NftJson = string | number | boolean | null | readonly NftJson[] | { readonly [key: string]: NftJson }

/** One set or map element. `comment` tags ownership (later plugins find their elements by it). */
export interface NftElement {
  /**
   * the key: "10.0.0.1", 8080, { concat: ["10.0.0.1", 80] }, { prefix: { addr: "10.1.0.0", len: 16 } }.
   * Use address literals: libnftables resolves any other string of an address type through DNS.
   */
  key: NftJson
  /** maps only: the mapped value, e.g. "10.0.0.2" or a verdict { jump: { target: "chain" } } */
  value?: NftJson
  comment?: string
  /** seconds; the set needs the "timeout" flag */
  timeout?: number
}

export type NftSetFlag = 'constant' | 'interval' | 'timeout' | 'dynamic'

export interface NftSetSpec {
  family: NftFamily
  table: string
  name: string
  /** "ipv4_addr", "inet_service", or an array for a concatenation: ["ipv4_addr", "inet_service"] */
  type: string | readonly string[]
  flags?: readonly NftSetFlag[]
  /** default element timeout in seconds */
  timeout?: number
  size?: number
  /** initial elements, added with the set */
  elements?: readonly NftElement[]
}

export interface NftMapSpec extends NftSetSpec {
  /** the value type: "verdict", "ipv4_addr", "inet_service", ... */
  map: string
}

export interface NftChainSpec {
  family: NftFamily
  table: string
  name: string
  /** base chains only: type, hook and prio together */
  type?: 'filter' | 'nat' | 'route'
  hook?: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress'
  prio?: number
  policy?: 'accept' | 'drop'
  /** netdev family only */
  dev?: string
}

export interface NftRuleSpec {
  family: NftFamily
  table: string
  chain: string
  /** the rule's statements, in libnftables JSON form */
  expr: readonly NftJson[]
  comment?: string
  /** add: append after this rule handle; insert: insert before it */
  handle?: number
}

/** One command of the batch, exactly as it is serialized. */
export type NftCommand = { readonly [verb: string]: { readonly [object: string]: NftJson } }

/** Longest comment accepted: nft's own parser limit (NFTNL_UDATA_COMMENT_MAXLEN), in bytes. */
export const NFT_COMMENT_MAX = 128
/** Longest table/chain/set name we create (the kernel allows 255; ours are short). */
export const NFT_NAME_MAX = 64

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/
const IFNAME_RE = /^[^\s/:\0]{1,15}$/
const VERBS = new Set(['add', 'create', 'insert', 'replace', 'delete', 'flush', 'reset', 'rename'])

export class NftBatch {
  readonly #cmds: NftCommand[] = []

  get length(): number {
    return this.#cmds.length
  }

  get commands(): readonly NftCommand[] {
    return [...this.#cmds]
  }

  /** Creates the table if missing (add is idempotent for tables, chains and sets). */
  addTable(family: NftFamily, name: string): this {
    return this.#push('add', 'table', { family: checkFamily(family), name: checkName('table', name) })
  }

  /** Deletes the table and everything in it; fails the whole batch if it does not exist. */
  deleteTable(family: NftFamily, name: string): this {
    return this.#push('delete', 'table', { family: checkFamily(family), name: checkName('table', name) })
  }

  /**
   * Deletes the table if it exists: "add table" then "delete table" in the same transaction, the idiom
   * netavark and knftables use, since libnftables 1.0.6 has no "destroy".
   */
  deleteTableIfExists(family: NftFamily, name: string): this {
    return this.addTable(family, name).deleteTable(family, name)
  }

  flushTable(family: NftFamily, name: string): this {
    return this.#push('flush', 'table', { family: checkFamily(family), name: checkName('table', name) })
  }

  addChain(spec: NftChainSpec): this {
    const base = spec.type !== undefined || spec.hook !== undefined || spec.prio !== undefined
    if (base && (spec.type === undefined || spec.hook === undefined || spec.prio === undefined)) {
      throw invalid('chain', spec.name, 'a base chain needs type, hook and prio together')
    }
    if (spec.prio !== undefined && !Number.isInteger(spec.prio)) throw invalid('chain priority', String(spec.prio), 'must be an integer')
    if (spec.policy !== undefined && !base) throw invalid('chain', spec.name, 'only base chains have a policy')
    if (spec.dev !== undefined && !IFNAME_RE.test(spec.dev)) throw invalid('device name', spec.dev, 'must be an interface name')
    return this.#push('add', 'chain', {
      ...tableRef(spec.family, spec.table),
      name: checkName('chain', spec.name),
      ...(spec.type !== undefined && { type: spec.type }),
      ...(spec.hook !== undefined && { hook: spec.hook }),
      ...(spec.prio !== undefined && { prio: spec.prio }),
      ...(spec.dev !== undefined && { dev: spec.dev }),
      ...(spec.policy !== undefined && { policy: spec.policy }),
    })
  }

  deleteChain(family: NftFamily, table: string, name: string): this {
    return this.#push('delete', 'chain', { ...tableRef(family, table), name: checkName('chain', name) })
  }

  flushChain(family: NftFamily, table: string, name: string): this {
    return this.#push('flush', 'chain', { ...tableRef(family, table), name: checkName('chain', name) })
  }

  addSet(spec: NftSetSpec): this {
    return this.#push('add', 'set', setObject(spec, false))
  }

  addMap(spec: NftMapSpec): this {
    if (!/^[a-z_][a-z0-9_]*$/.test(spec.map)) throw invalid('map value type', spec.map, 'must be an nft type name')
    return this.#push('add', 'map', setObject(spec, true))
  }

  deleteSet(family: NftFamily, table: string, name: string): this {
    return this.#push('delete', 'set', { ...tableRef(family, table), name: checkName('set', name) })
  }

  deleteMap(family: NftFamily, table: string, name: string): this {
    return this.#push('delete', 'map', { ...tableRef(family, table), name: checkName('map', name) })
  }

  /** Removes every element of a set; for a map use flushMap. */
  flushSet(family: NftFamily, table: string, name: string): this {
    return this.#push('flush', 'set', { ...tableRef(family, table), name: checkName('set', name) })
  }

  flushMap(family: NftFamily, table: string, name: string): this {
    return this.#push('flush', 'map', { ...tableRef(family, table), name: checkName('map', name) })
  }

  /**
   * Adds elements. Adding a key that is already there is a no-op that keeps the old comment; adding a
   * map key that is there with a *different* value fails the batch (EEXIST): delete it first.
   */
  addElements(family: NftFamily, table: string, set: string, elements: readonly NftElement[]): this {
    return this.#elements('add', family, table, set, elements)
  }

  /** Like addElements, but an element that already exists fails the batch. */
  createElements(family: NftFamily, table: string, set: string, elements: readonly NftElement[]): this {
    return this.#elements('create', family, table, set, elements)
  }

  /** Deletes elements by key (comments and map values need not be given). A missing key fails the batch. */
  deleteElements(family: NftFamily, table: string, set: string, keys: readonly (NftJson | NftElement)[]): this {
    const elem = keys.map((k) => (isElement(k) ? k.key : k))
    if (elem.length === 0) return this
    return this.#push('delete', 'element', { ...tableRef(family, table), name: checkName('set', set), elem })
  }

  addRule(spec: NftRuleSpec): this {
    return this.#push('add', 'rule', ruleObject(spec))
  }

  /** Inserts at the head of the chain (or before `handle`). */
  insertRule(spec: NftRuleSpec): this {
    return this.#push('insert', 'rule', ruleObject(spec))
  }

  deleteRule(family: NftFamily, table: string, chain: string, handle: number): this {
    if (!Number.isInteger(handle) || handle <= 0) throw invalid('rule handle', String(handle), 'must be a positive integer')
    return this.#push('delete', 'rule', { ...tableRef(family, table), chain: checkName('chain', chain), handle })
  }

  /** Escape hatch for commands not modelled above; the caller owns its validity. */
  raw(command: NftCommand): this {
    const verbs = Object.keys(command)
    if (verbs.length !== 1 || !VERBS.has(verbs[0]!)) {
      throw invalid('nftables command', verbs.join(','), `must have exactly one of ${[...VERBS].join(', ')}`)
    }
    this.#cmds.push(command)
    return this
  }

  /** Appends another batch's commands (in order), e.g. to combine two plugins' changes into one transaction. */
  append(other: NftBatch): this {
    this.#cmds.push(...other.#cmds)
    return this
  }

  toJSON(): { nftables: NftCommand[] } {
    return { nftables: [...this.#cmds] }
  }

  toString(): string {
    return JSON.stringify(this.toJSON())
  }

  #elements(verb: 'add' | 'create', family: NftFamily, table: string, set: string, elements: readonly NftElement[]): this {
    if (elements.length === 0) return this
    return this.#push(verb, 'element', { ...tableRef(family, table), name: checkName('set', set), elem: elements.map(elementJson) })
  }

  #push(verb: string, object: string, body: { readonly [k: string]: NftJson }): this {
    this.#cmds.push({ [verb]: { [object]: body } })
    return this
  }
}

/** The JSON form of one element: the bare key, or {elem: {val, comment, timeout}}; maps pair it with the value. */
export function elementJson(e: NftElement): NftJson {
  const extra = e.comment !== undefined || e.timeout !== undefined
  if (e.timeout !== undefined && (!Number.isInteger(e.timeout) || e.timeout <= 0)) {
    throw invalid('element timeout', String(e.timeout), 'must be a positive number of seconds')
  }
  const key: NftJson = extra
    ? {
        elem: {
          val: e.key,
          ...(e.timeout !== undefined && { timeout: e.timeout }),
          ...(e.comment !== undefined && { comment: checkComment(e.comment) }),
        },
      }
    : e.key
  return e.value === undefined ? key : [key, e.value]
}

/** Checks a comment for use in nftables: at most 128 bytes, printable, no double quote. Returns it. */
export function checkComment(comment: string): string {
  if (Buffer.byteLength(comment, 'utf8') > NFT_COMMENT_MAX) {
    throw invalid('nftables comment', comment.slice(0, 40) + '…', `longer than ${NFT_COMMENT_MAX} bytes`)
  }
  // A double quote is stored fine but breaks `nft list ruleset` output (it is printed unescaped),
  // and control characters (newlines) break line-oriented listings.
  if (/["\p{Cc}]/u.test(comment)) throw invalid('nftables comment', comment, 'must not contain double quotes or control characters')
  return comment
}

/** Checks a table, chain or set name we create or address. Returns it. */
export function checkName(what: string, name: string): string {
  if (name.length === 0 || name.length > NFT_NAME_MAX || !NAME_RE.test(name)) {
    throw invalid(`nftables ${what} name`, name, `use letters, digits, '_' and '-' (at most ${NFT_NAME_MAX}, not starting with a digit or '-')`)
  }
  return name
}

export function checkFamily(family: string): NftFamily {
  if (!(NFT_FAMILIES as readonly string[]).includes(family)) throw invalid('nftables family', family, `must be one of ${NFT_FAMILIES.join(', ')}`)
  return family as NftFamily
}

function tableRef(family: NftFamily, table: string): { family: NftFamily; table: string } {
  return { family: checkFamily(family), table: checkName('table', table) }
}

function setObject(spec: NftSetSpec | NftMapSpec, isMap: boolean): { readonly [k: string]: NftJson } {
  const types = typeof spec.type === 'string' ? [spec.type] : spec.type
  if (types.length === 0 || !types.every((t) => /^[a-z_][a-z0-9_]*$/.test(t))) {
    throw invalid('set type', String(spec.type), 'must be nft type names such as ipv4_addr')
  }
  for (const [k, v] of [['timeout', spec.timeout], ['size', spec.size]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw invalid(`set ${k}`, String(v), 'must be a positive integer')
  }
  const elements = spec.elements ?? []
  if (!isMap && elements.some((e) => e.value !== undefined)) throw invalid('set', spec.name, 'elements of a set have no value (use a map)')
  if (isMap && elements.some((e) => e.value === undefined)) throw invalid('map', spec.name, 'every map element needs a value')
  return {
    ...tableRef(spec.family, spec.table),
    name: checkName(isMap ? 'map' : 'set', spec.name),
    type: typeof spec.type === 'string' ? spec.type : [...spec.type],
    ...('map' in spec && { map: spec.map }),
    ...(spec.flags !== undefined && spec.flags.length > 0 && { flags: [...spec.flags] }),
    ...(spec.timeout !== undefined && { timeout: spec.timeout }),
    ...(spec.size !== undefined && { size: spec.size }),
    ...(elements.length > 0 && { elem: elements.map(elementJson) }),
  }
}

function ruleObject(spec: NftRuleSpec): { readonly [k: string]: NftJson } {
  if (spec.expr.length === 0) throw invalid('rule', spec.chain, 'needs at least one statement')
  if (spec.handle !== undefined && (!Number.isInteger(spec.handle) || spec.handle <= 0)) {
    throw invalid('rule handle', String(spec.handle), 'must be a positive integer')
  }
  return {
    ...tableRef(spec.family, spec.table),
    chain: checkName('chain', spec.chain),
    ...(spec.handle !== undefined && { handle: spec.handle }),
    expr: [...spec.expr],
    ...(spec.comment !== undefined && { comment: checkComment(spec.comment) }),
  }
}

function isElement(v: NftJson | NftElement): v is NftElement {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'key' in v && Object.keys(v).every((k) => ['key', 'value', 'comment', 'timeout'].includes(k))
}

function invalid(what: string, value: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `invalid ${what} "${value}": ${why}`)
}
