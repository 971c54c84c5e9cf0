// The shim ↔ daemon wire format (daemon/PROTOCOL.md), both directions, so the daemon and the tests that
// play the shim or the daemon share one codec. Pure: no sockets, no I/O.

export const PROTOCOL_VERSION = 1
export const MAX_BODY = 16 * 1024 * 1024
const HELLO_MAGIC = Buffer.from('BRTH')
const REQUEST_MAGIC = Buffer.from('BREQ')
const RESPONSE_MAGIC = Buffer.from('BRES')
const CONTROL_MAGIC = Buffer.from('BCTL')

export interface Hello {
  version: number
  build: string
}

export interface Request {
  type: string
  exe: string
  /** NAME=value entries, as the shim was given them */
  env: string[]
  stdin: Buffer
}

export type Response = { kind: 'result'; exit: number; stdout: Buffer; stderr: Buffer } | { kind: 'fallback'; reason: string }

export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}
const str = (s: string | Buffer): Buffer[] => {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  return [u32(b.length), b]
}

export function encodeHello(build: string, version = PROTOCOL_VERSION): Buffer {
  return Buffer.concat([HELLO_MAGIC, u32(version), ...str(build)])
}

export function encodeRequest(r: Request): Buffer {
  const body = Buffer.concat([...str(r.type), ...str(r.exe), u32(r.env.length), ...r.env.flatMap((e) => str(e)), ...str(r.stdin)])
  return Buffer.concat([REQUEST_MAGIC, u32(body.length), body])
}

export function encodeResponse(r: Response): Buffer {
  if (r.kind === 'fallback') return Buffer.concat([RESPONSE_MAGIC, Buffer.from([1]), ...str(r.reason)])
  return Buffer.concat([RESPONSE_MAGIC, Buffer.from([0]), u32(r.exit), ...str(r.stdout), ...str(r.stderr)])
}

/** Reads fields off a buffer; `undefined` from need() means "not all bytes are here yet". */
class Reader {
  pos = 0
  constructor(readonly buf: Buffer) {}
  need(n: number): boolean {
    return this.buf.length - this.pos >= n
  }
  magic(m: Buffer, what: string): boolean {
    if (!this.need(4)) return false
    if (!this.buf.subarray(this.pos, this.pos + 4).equals(m)) throw new ProtocolError(`bad ${what} magic`)
    this.pos += 4
    return true
  }
  u32(): number | undefined {
    if (!this.need(4)) return undefined
    const n = this.buf.readUInt32LE(this.pos)
    this.pos += 4
    return n
  }
  bytes(): Buffer | undefined {
    const n = this.u32()
    if (n === undefined) return undefined
    if (!this.need(n)) return undefined
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }
}

/** A whole HELLO from the start of `buf`, or undefined while incomplete. */
export function decodeHello(buf: Buffer): Hello | undefined {
  const r = new Reader(buf)
  if (!r.magic(HELLO_MAGIC, 'hello')) return undefined
  const version = r.u32()
  const build = r.bytes()
  return version === undefined || build === undefined ? undefined : { version, build: build.toString() }
}

/** The announced body length once the 8-byte header is in, so a reader can refuse a large one early. */
export function requestBodyLength(buf: Buffer): number | undefined {
  const r = new Reader(buf)
  if (!r.magic(REQUEST_MAGIC, 'request')) return undefined
  return r.u32()
}

/** `berth daemon status|metrics`: a control request in place of a REQUEST (never sent by the shim). */
export function encodeControl(command: string): Buffer {
  return Buffer.concat([CONTROL_MAGIC, ...str(command)])
}

/** What a connection opened with: a CNI call, a control request, or not known yet (fewer than 4 bytes). */
export function requestKind(buf: Buffer): 'call' | 'control' | undefined {
  if (buf.length < 4) return undefined
  const m = buf.subarray(0, 4)
  if (m.equals(REQUEST_MAGIC)) return 'call'
  if (m.equals(CONTROL_MAGIC)) return 'control'
  throw new ProtocolError('bad request magic')
}

/** A whole control request's command, or undefined while incomplete. */
export function decodeControl(buf: Buffer): string | undefined {
  const r = new Reader(buf)
  if (!r.magic(CONTROL_MAGIC, 'control')) return undefined
  const n = r.u32()
  if (n !== undefined && n > 64) throw new ProtocolError('control command too long')
  r.pos -= 4
  const cmd = r.bytes()
  return cmd?.toString()
}

/** A whole REQUEST, or undefined while incomplete. Throws ProtocolError on malformed input. */
export function decodeRequest(buf: Buffer): Request | undefined {
  const length = requestBodyLength(buf)
  if (length === undefined || buf.length < 8 + length) return undefined
  const r = new Reader(buf.subarray(8, 8 + length))
  const bad = () => new ProtocolError('truncated request body')
  const type = r.bytes()
  const exe = r.bytes()
  const count = r.u32()
  if (type === undefined || exe === undefined || count === undefined) throw bad()
  if (count > length / 4) throw new ProtocolError('environment count exceeds the body')
  const env: string[] = []
  for (let i = 0; i < count; i++) {
    const e = r.bytes()
    if (e === undefined) throw bad()
    env.push(e.toString())
  }
  const stdin = r.bytes()
  if (stdin === undefined) throw bad()
  if (r.pos !== length) throw new ProtocolError('trailing bytes after the request body')
  return { type: type.toString(), exe: exe.toString(), env, stdin: Buffer.from(stdin) }
}

/** A whole RESPONSE, or undefined while incomplete. */
export function decodeResponse(buf: Buffer): Response | undefined {
  const r = new Reader(buf)
  if (!r.magic(RESPONSE_MAGIC, 'response') || !r.need(1)) return undefined
  const kind = buf[r.pos++]
  if (kind === 1) {
    const reason = r.bytes()
    return reason === undefined ? undefined : { kind: 'fallback', reason: reason.toString() }
  }
  if (kind !== 0) throw new ProtocolError(`unknown response kind ${String(kind)}`)
  const exit = r.u32()
  const stdout = r.bytes()
  const stderr = r.bytes()
  if (exit === undefined || stdout === undefined || stderr === undefined) return undefined
  return { kind: 'result', exit, stdout: Buffer.from(stdout), stderr: Buffer.from(stderr) }
}

/** NAME=value entries → an env object; the first of a repeated name wins, as getenv(3) sees it. */
export function envObject(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of entries) {
    const eq = e.indexOf('=')
    if (eq <= 0) continue
    const k = e.slice(0, eq)
    if (!(k in out)) out[k] = e.slice(eq + 1)
  }
  return out
}
