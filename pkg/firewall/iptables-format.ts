// The iptables-restore/iptables-save text format, without running anything (iptables.ts runs the tools).
//
// Restore input is line-oriented: "*table", ":CHAIN - [0:0]", "-A CHAIN args...", "COMMIT". iptables
// splits a line on blanks; a double-quoted token may hold blanks and backslash escapes. We only emit
// tokens that every iptables version reads back identically: blanks are quoted, and double quotes,
// backslashes, control characters and empty tokens are refused rather than escaped.
import { CniCode, CniError } from '../errors/cni-error.js'

export const IPT_TABLES = ['filter', 'nat', 'mangle', 'raw', 'security'] as const
export type IptTable = (typeof IPT_TABLES)[number]
export type IpFamily = 4 | 6

/** XT_EXTENSION_MAXNAMELEN - 1 */
export const IPT_CHAIN_MAX = 28
/** XT_MAX_COMMENT_LEN - 1 (the comment match stores a NUL-terminated 256-byte buffer) */
export const IPT_COMMENT_MAX = 255
/** iptables-restore's per-token buffer is 1024 bytes */
const TOKEN_MAX = 1023

const CHAIN_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/
const SAFE_TOKEN_RE = /^[A-Za-z0-9_.:/,=@+%!^~*[\]-]+$/

export type IptOp =
  | { op: 'chain'; table: IptTable; chain: string }
  | { op: '-A' | '-I' | '-D'; table: IptTable; chain: string; args: readonly string[]; comment?: string }
  | { op: '-F' | '-X'; table: IptTable; chain: string }

/**
 * A set of changes for `iptables-restore --noflush` (one family). Each table's part is committed
 * atomically by iptables-restore; a failing line aborts that table's part.
 */
export class IptablesBatch {
  readonly family: IpFamily
  readonly #ops: IptOp[] = []

  constructor(family: IpFamily) {
    if (family !== 4 && family !== 6) throw invalid('IP family', String(family), 'must be 4 or 6')
    this.family = family
  }

  get length(): number {
    return this.#ops.length
  }

  get ops(): readonly IptOp[] {
    return [...this.#ops]
  }

  /**
   * Declares a user chain: creates it, or FLUSHES it if it exists (that is what ":CHAIN - [0:0]" means
   * with --noflush). Declarations are emitted at the top of their table's block.
   */
  declareChain(table: IptTable, chain: string): this {
    return this.#push({ op: 'chain', table: checkTable(table), chain: checkChain(chain) })
  }

  /** -A: appends a rule. The comment becomes "-m comment --comment ..." first in the rule, as CNI plugins do. */
  append(table: IptTable, chain: string, args: readonly string[], comment?: string): this {
    return this.#rule('-A', table, chain, args, comment)
  }

  /** -I: inserts a rule at the head of the chain. */
  insert(table: IptTable, chain: string, args: readonly string[], comment?: string): this {
    return this.#rule('-I', table, chain, args, comment)
  }

  /** -D: deletes the rule with exactly this spec (and comment); a missing rule fails the table's part. */
  delete(table: IptTable, chain: string, args: readonly string[], comment?: string): this {
    return this.#rule('-D', table, chain, args, comment)
  }

  flushChain(table: IptTable, chain: string): this {
    return this.#push({ op: '-F', table: checkTable(table), chain: checkChain(chain) })
  }

  /** -X: deletes an empty user chain that no rule references. */
  deleteChain(table: IptTable, chain: string): this {
    return this.#push({ op: '-X', table: checkTable(table), chain: checkChain(chain) })
  }

  /** The restore text: one "*table ... COMMIT" block per table, in first-use order. */
  toRestoreText(): string {
    const tables = [...new Set(this.#ops.map((o) => o.table))]
    const lines: string[] = []
    for (const table of tables) {
      const ops = this.#ops.filter((o) => o.table === table)
      lines.push(`*${table}`)
      for (const o of ops) if (o.op === 'chain') lines.push(`:${o.chain} - [0:0]`)
      for (const o of ops) {
        if (o.op === '-A' || o.op === '-I' || o.op === '-D') lines.push([o.op, o.chain, ...ruleTokens(o.args, o.comment)].map(renderToken).join(' '))
        else if (o.op !== 'chain') lines.push(`${o.op} ${o.chain}`)
      }
      lines.push('COMMIT')
    }
    return lines.length === 0 ? '' : lines.join('\n') + '\n'
  }

  #rule(op: '-A' | '-I' | '-D', table: IptTable, chain: string, args: readonly string[], comment: string | undefined): this {
    if (args.length === 0) throw invalid('iptables rule', chain, 'needs at least one argument')
    for (const a of args) checkToken(a)
    return this.#push({
      op,
      table: checkTable(table),
      chain: checkChain(chain),
      args: [...args],
      ...(comment !== undefined && { comment: checkIptComment(comment) }),
    })
  }

  #push(op: IptOp): this {
    this.#ops.push(op)
    return this
  }
}

function ruleTokens(args: readonly string[], comment: string | undefined): string[] {
  return comment === undefined ? [...args] : ['-m', 'comment', '--comment', comment, ...args]
}

/** A token as iptables-restore reads it back: bare when safe, else in double quotes. */
export function renderToken(token: string): string {
  checkToken(token)
  return SAFE_TOKEN_RE.test(token) ? token : `"${token}"`
}

function checkToken(token: string): void {
  if (token === '') throw invalid('iptables argument', token, 'must not be empty (iptables-restore drops empty tokens)')
  if (/["\\\p{Cc}]/u.test(token)) throw invalid('iptables argument', token, 'must not contain double quotes, backslashes or control characters')
  if (Buffer.byteLength(token, 'utf8') > TOKEN_MAX) throw invalid('iptables argument', token.slice(0, 40) + '…', `longer than ${TOKEN_MAX} bytes`)
  // iptables-restore refuses a table option inside a rule (the table is the "*table" line).
  if ((/^-[^-]/.test(token) && token.includes('t')) || (token.startsWith('--t') && '--table'.startsWith(token))) {
    throw invalid('iptables argument', token, 'the table is chosen by the batch, not by -t/--table')
  }
}

export function checkChain(chain: string): string {
  if (chain.length === 0 || chain.length > IPT_CHAIN_MAX || !CHAIN_RE.test(chain)) {
    throw invalid('iptables chain name', chain, `use letters, digits, '_', '.', '+' and '-' (at most ${IPT_CHAIN_MAX}, not starting with '-')`)
  }
  return chain
}

export function checkTable(table: string): IptTable {
  if (!(IPT_TABLES as readonly string[]).includes(table)) throw invalid('iptables table', table, `must be one of ${IPT_TABLES.join(', ')}`)
  return table as IptTable
}

/** Comments: at most 255 bytes, no double quote, backslash or control character. */
export function checkIptComment(comment: string): string {
  if (Buffer.byteLength(comment, 'utf8') > IPT_COMMENT_MAX) throw invalid('iptables comment', comment.slice(0, 40) + '…', `longer than ${IPT_COMMENT_MAX} bytes`)
  if (comment === '' || /["\\\p{Cc}]/u.test(comment)) {
    throw invalid('iptables comment', comment, 'must be non-empty, without double quotes, backslashes or control characters')
  }
  return comment
}

// ---- iptables-save parsing ----

export interface IptSavedRule {
  chain: string
  /** the rule spec after "-A CHAIN", without the first "-m comment --comment X" */
  args: string[]
  comment?: string
}

export interface IptSavedTable {
  table: string
  /** chain name → policy ("ACCEPT"/"DROP" for built-in chains, "-" for user chains) */
  chains: Map<string, string>
  rules: IptSavedRule[]
}

/** Parses iptables-save output into tables, chains and rules. Counters are dropped. */
export function parseIptablesSave(text: string): IptSavedTable[] {
  const tables: IptSavedTable[] = []
  let cur: IptSavedTable | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('*')) {
      cur = { table: line.slice(1), chains: new Map(), rules: [] }
      tables.push(cur)
    } else if (line === 'COMMIT') {
      cur = undefined
    } else if (cur !== undefined && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/)
      if (name) cur.chains.set(name, policy ?? '-')
    } else if (cur !== undefined && /^(\[\d+:\d+\] )?-A /.test(line)) {
      // "[pkts:bytes] -A ..." is the iptables-save -c form; "-A CHAIN -c pkts bytes ..." the restore form
      let tokens = tokenizeRestoreLine(line.replace(/^\[\d+:\d+\] /, '')).slice(1)
      const chain = tokens.shift()
      if (chain === undefined) continue
      if (tokens[0] === '-c') tokens = tokens.slice(3)
      cur.rules.push({ chain, ...splitComment(tokens) })
    }
  }
  return tables
}

function splitComment(tokens: string[]): { args: string[]; comment?: string } {
  for (let i = 0; i + 3 < tokens.length; i++) {
    if (tokens[i] === '-m' && tokens[i + 1] === 'comment' && tokens[i + 2] === '--comment' && tokens[i + 3] !== undefined) {
      return { args: [...tokens.slice(0, i), ...tokens.slice(i + 4)], comment: tokens[i + 3]! }
    }
  }
  return { args: tokens }
}

/** Splits one restore/save line the way iptables does: blanks separate, "..." groups, a backslash escapes inside quotes. */
export function tokenizeRestoreLine(line: string): string[] {
  const tokens: string[] = []
  let buf = ''
  let inQuote = false
  let escaped = false
  for (const ch of line) {
    if (inQuote) {
      if (escaped) {
        buf += ch
        escaped = false
      } else if (ch === '\\') escaped = true
      else if (ch === '"') inQuote = false
      else buf += ch
    } else if (ch === '"') inQuote = true
    else if (ch === ' ' || ch === '\t') {
      // like iptables, an empty token ("" or two blanks) is dropped
      if (buf !== '') tokens.push(buf)
      buf = ''
    } else buf += ch
  }
  if (buf !== '') tokens.push(buf)
  return tokens
}

function invalid(what: string, value: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `invalid ${what} "${value}": ${why}`)
}
