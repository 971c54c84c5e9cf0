// The shim (native/shim/shim.c, built as bin/<type>) against a fake daemon speaking daemon/protocol.ts on a
// socket in a temporary directory (BERTH_SOCKET). Each decision of daemon/PROTOCOL.md: VERSION from the
// table without touching the socket; the right build relays the daemon's answer byte for byte and sends the
// exact environment and stdin; no daemon, another build, another magic or version, a FALLBACK answer or a
// silent daemon runs lib/<type> (its output equal to running lib/<type> directly, stdin intact); a daemon
// gone after the REQUEST gives code 11 for ADD and a standalone run for DEL. Needs a built bin/, no privileges.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeRequest, encodeHello, encodeResponse, PROTOCOL_VERSION, type Response } from '../../../daemon/protocol.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { builtPluginTypes } from '../../helpers/run-plugin.js'
import { needsBuiltBin } from '../../helpers/privileges.js'

const skip = needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('lib/build-id', BIN_DIR)
const BUILD = skip ? '' : readFileSync(join(BIN_DIR, 'lib', 'build-id'), 'utf8')
const PATH = process.env['PATH'] ?? '/usr/bin:/bin'

interface Run {
  status: number | null
  stdout: Buffer
  stderr: Buffer
  ms: number
}

/** Runs exe asynchronously (the fake daemon lives in this process's event loop), stdin written whole. */
function run(exe: string, env: Record<string, string>, stdin: Buffer | string = '', argv: string[] = []): Promise<Run> {
  const start = Date.now()
  const child = spawn(exe, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => out.push(c))
  child.stderr.on('data', (c: Buffer) => err.push(c))
  // a run that never reads stdin (VERSION) closes the pipe under a large write
  child.stdin.on('error', () => {})
  child.stdin.end(stdin)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ms: Date.now() - start }))
  })
}

/** A REQUEST's fields as raw bytes (decodeRequest gives strings; the environment test needs the bytes). */
function rawRequest(buf: Buffer): { type: string; exe: string; env: Buffer[]; stdin: Buffer } {
  let pos = 8
  const str = () => {
    const n = buf.readUInt32LE(pos)
    pos += 4 + n
    return buf.subarray(pos - n, pos)
  }
  const type = str().toString()
  const exe = str().toString()
  const count = buf.readUInt32LE(pos)
  pos += 4
  const env = Array.from({ length: count }, str)
  return { type, exe, env, stdin: str() }
}

interface FakeDaemon {
  sock: string
  connections: number
  /** every byte each connection sent, complete once `closed` resolves */
  received: Buffer[]
  requests: ReturnType<typeof rawRequest>[]
  /** all connections so far closed by the shim or by us */
  closed(): Promise<void>
}

interface Behaviour {
  /** what to send on accept (default: this build's HELLO); null: nothing */
  hello?: Buffer | null
  /** the answer to a whole REQUEST; 'close' drops the connection without one, 'hang' keeps it silent */
  reply?: (r: ReturnType<typeof rawRequest>) => Response | 'close' | 'hang' | Buffer
}

/** A temporary directory with a short path: a socket path must fit in 108 bytes. */
function tempDir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'berth-shim-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

async function fakeDaemon(t: Test, b: Behaviour = {}): Promise<FakeDaemon> {
  const sockets: Socket[] = []
  const closes: Promise<void>[] = []
  const d: FakeDaemon = { sock: join(tempDir(t), 'berthd.sock'), connections: 0, received: [], requests: [], closed: async () => void (await Promise.all(closes)) }
  const server = createServer((s) => {
    const i = d.connections++
    sockets.push(s)
    d.received[i] = Buffer.alloc(0)
    closes.push(new Promise((resolve) => s.on('close', () => resolve())))
    s.on('error', () => {})
    if (b.hello !== null) s.write(b.hello ?? encodeHello(BUILD))
    let answered = false
    s.on('data', (c: Buffer) => {
      const buf = (d.received[i] = Buffer.concat([d.received[i] ?? Buffer.alloc(0), c]))
      if (answered || b.reply === undefined || decodeRequest(buf) === undefined) return
      answered = true
      const req = rawRequest(buf)
      d.requests.push(req)
      const r = b.reply(req)
      if (r === 'close') s.destroy()
      else if (r !== 'hang') s.end(Buffer.isBuffer(r) ? r : encodeResponse(r))
    })
  })
  await new Promise<void>((resolve) => server.listen(d.sock, resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return d
}

const cniEnv = (command: string, sock: string, extra: Record<string, string> = {}): Record<string, string> => ({
  PATH,
  BERTH_SOCKET: sock,
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'shim-test',
  CNI_IFNAME: 'eth0',
  CNI_PATH: BIN_DIR,
  ...extra,
})
// Calls that fail on bad input before touching the host: ADD without CNI_NETNS, DEL without CNI_IFNAME.
const CONF = JSON.stringify({ cniVersion: '0.4.0', name: 'shimtest', type: 'bridge', bridge: 'shimtest0' })
const badAdd = (sock: string) => cniEnv('ADD', sock)
const badDel = (sock: string) => {
  const e = cniEnv('DEL', sock, { CNI_NETNS: '/var/run/netns/none' })
  delete e['CNI_IFNAME']
  return e
}

/** The shim's run must equal lib/<type> run directly with the same environment and stdin. */
async function sameAsStandalone(t: Test, type: string, env: Record<string, string>, stdin: string, what: string): Promise<void> {
  const shim = await run(join(BIN_DIR, type), env, stdin)
  const direct = await run(join(BIN_DIR, 'lib', type), env, stdin)
  t.equal(shim.status, direct.status, `${what}: same exit status`)
  t.equal(shim.stdout.toString(), direct.stdout.toString(), `${what}: same stdout`)
  t.equal(shim.stderr.toString(), direct.stderr.toString(), `${what}: same stderr (nothing of the shim's own)`)
  t.not(direct.status, 0, `${what}: the call itself fails (bad input), as intended`)
}

/** A copy of the shim named `probe` whose lib/probe is a shell script: argv and ignored signals on stderr, stdin echoed. */
function probe(t: Test, withLib = true): string {
  const dir = tempDir(t)
  const exe = join(dir, 'probe')
  copyFileSync(join(BIN_DIR, 'bridge'), exe)
  if (withLib) {
    mkdirSync(join(dir, 'lib'))
    writeFileSync(join(dir, 'lib', 'probe'), '#!/bin/sh\nprintf "arg:%s\\n" "$@" >&2\ngrep SigIgn /proc/$$/status >&2\nexec cat\n')
    chmodSync(join(dir, 'lib', 'probe'), 0o755)
  }
  return exe
}

const result = (exit: number, stdout: Buffer | string, stderr: Buffer | string = ''): Response => ({
  kind: 'result',
  exit,
  stdout: Buffer.from(stdout),
  stderr: Buffer.from(stderr),
})

t.test('without a daemon the shim runs lib/<type>: same output, silently', { skip }, async (t) => {
  const dir = tempDir(t)
  await sameAsStandalone(t, 'bridge', badAdd(join(dir, 'none.sock')), CONF, 'no socket file')
  writeFileSync(join(dir, 'file.sock'), '')
  await sameAsStandalone(t, 'bridge', badAdd(join(dir, 'file.sock')), CONF, 'a file that refuses connections')
  await sameAsStandalone(t, 'bridge', badDel(join(dir, 'none.sock')), CONF, 'DEL')
  const debug = await run(join(BIN_DIR, 'bridge'), { ...badAdd(join(dir, 'none.sock')), BERTH_LOG_LEVEL: 'debug' }, CONF)
  t.match(debug.stderr.toString(), /^berth-shim bridge: no daemon at .*none\.sock: No such file or directory$/m, 'debug: the reason on stderr')
})

t.test('VERSION comes from the table: equal to the Node executable, the socket untouched', { skip }, async (t) => {
  const d = await fakeDaemon(t, { reply: () => result(0, 'from the daemon') })
  const types = builtPluginTypes()
  t.ok(types.length >= 8, 'every plugin type')
  for (const type of types) {
    const env = { PATH, BERTH_SOCKET: d.sock, CNI_COMMAND: 'VERSION' }
    const shim = await run(join(BIN_DIR, type), env, '{"cniVersion":"1.0.0"}')
    const node = await run(join(BIN_DIR, 'lib', type), env, '{"cniVersion":"1.0.0"}')
    t.equal(shim.status, 0, `${type}: exit 0`)
    t.equal(shim.stdout.toString(), node.stdout.toString(), `${type}: the Node executable's answer`)
    t.match(JSON.parse(shim.stdout.toString()), { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
  }
  t.equal(d.connections, 0, 'no connection to the daemon')
  // A type the table does not know falls back to lib/<type>, here missing: a CNI error naming the path.
  const p = probe(t, false)
  const unknown = await run(p, { PATH, BERTH_SOCKET: d.sock, CNI_COMMAND: 'VERSION' })
  t.equal(unknown.status, 1)
  t.same(JSON.parse(unknown.stdout.toString()), {
    cniVersion: '1.1.0',
    code: 5,
    msg: `berth: cannot run the plugin ${join(realpathSync(join(p, '..')), 'lib', 'probe')}: No such file or directory`,
  })
  t.equal(d.connections, 0, 'still no connection')
})

t.test("the right build: the daemon's answer relayed byte for byte; the exact environment and stdin sent", { skip }, async (t) => {
  const out = Buffer.concat([Buffer.from('{"cniVersion":"1.1.0"}\0\xff'), randomBytes(2 << 20)])
  const err = Buffer.from('log line\n\0\x80 tail')
  const d = await fakeDaemon(t, { reply: () => result(3, out, err) })
  const bridge = join(BIN_DIR, 'bridge')
  // env -i: exactly these entries; WEIRD's value is made by printf, since \377 is no UTF-8 a Node string can carry
  const entries = ['PATH=' + PATH, `BERTH_SOCKET=${d.sock}`, 'CNI_COMMAND=ADD', 'EMPTY=', 'EQ=a=b==c', 'NL=line1\nline2', 'CNI_ARGS=IgnoreUnknown=1;K=V']
  const script = 'w=$(printf "a\\377\\376b"); exec env -i "$@" "WEIRD=$w" "$EXE"'
  for (const [what, stdin] of [
    ['a config', Buffer.from(CONF)],
    ['empty stdin', Buffer.alloc(0)],
    ['4 MiB of stdin', randomBytes(4 << 20)],
  ] as const) {
    const before = d.requests.length
    const r = await runRaw(script, entries, bridge, stdin)
    t.equal(r.status, 3, `${what}: the daemon's exit code`)
    t.ok(r.stdout.equals(out), `${what}: stdout byte for byte (${r.stdout.length} bytes)`)
    t.ok(r.stderr.equals(err), `${what}: stderr byte for byte`)
    const req = d.requests[before]
    t.equal(req?.type, 'bridge', `${what}: type`)
    t.equal(req?.exe, realpathSync(bridge), `${what}: exe, resolved`)
    t.same(req?.env.map((e) => e.toString('latin1')), [...entries.map((e) => Buffer.from(e).toString('latin1')), 'WEIRD=a\xff\xfeb'], `${what}: the environment, byte for byte`)
    t.ok(req?.stdin.equals(stdin), `${what}: stdin (${stdin.length} bytes)`)
  }
  const ok = await run(bridge, cniEnv('DEL', d.sock), CONF)
  t.equal(ok.status, 3)
  t.equal(d.connections, 4, 'one connection per call')
})

/** Runs `sh -c script` with entries and then the exe as arguments (EXE in the environment of sh). */
function runRaw(script: string, entries: string[], exe: string, stdin: Buffer): Promise<Run> {
  return run('/bin/sh', { EXE: exe, PATH }, stdin, ['-c', script, 'sh', ...entries])
}

t.test('another build, another magic, another version, a partial HELLO: standalone, no REQUEST sent', { skip }, async (t) => {
  const other = BUILD.replace(/./, (c) => (c === '0' ? '1' : '0'))
  const cases: [string, Buffer][] = [
    ['another build', encodeHello(other)],
    ['a HELLO cut short', encodeHello(BUILD).subarray(0, 14)],
    ['a build id of another length', encodeHello(`${BUILD}0`)],
    ['another magic', Buffer.concat([Buffer.from('XRTH'), encodeHello(BUILD).subarray(4)])],
    ['another protocol version', encodeHello(BUILD, PROTOCOL_VERSION + 1)],
  ]
  for (const [what, hello] of cases) {
    const d = await fakeDaemon(t, { hello, reply: () => result(0, 'must not happen') })
    // the short timeout is for the HELLO cut short: the others are refused at once
    await sameAsStandalone(t, 'bridge', { ...badAdd(d.sock), BERTH_SHIM_HELLO_TIMEOUT_MS: '500' }, CONF, what)
    await d.closed()
    t.equal(d.connections, 1, `${what}: the shim connected (the Node executable never does)`)
    t.same(d.received.map((b) => b.length), [0], `${what}: not a byte sent`)
  }
})

t.test('a daemon that never says HELLO: standalone after the timeout', { skip }, async (t) => {
  const d = await fakeDaemon(t, { hello: null, reply: () => result(0, 'must not happen') })
  const env = { ...badAdd(d.sock), BERTH_SHIM_HELLO_TIMEOUT_MS: '400' }
  const shim = await run(join(BIN_DIR, 'bridge'), env, CONF)
  const direct = await run(join(BIN_DIR, 'lib', 'bridge'), env, CONF)
  t.equal(shim.status, direct.status)
  t.equal(shim.stdout.toString(), direct.stdout.toString(), 'the standalone answer')
  t.ok(shim.ms >= 400, `waited for the HELLO (${shim.ms} ms)`)
  t.ok(shim.ms < 4000, 'the override applies, not the 5 s')
  await d.closed()
  t.same(d.received.map((b) => b.length), [0], 'not a byte sent')
  const debug = await run(join(BIN_DIR, 'bridge'), { ...env, BERTH_LOG_LEVEL: 'debug' }, CONF)
  t.match(debug.stderr.toString(), /^berth-shim bridge: no HELLO from the daemon: Connection timed out$/m)
})

t.test('a FALLBACK answer: the call runs standalone, with the same stdin', { skip }, async (t) => {
  const d = await fakeDaemon(t, { reply: () => ({ kind: 'fallback', reason: 'another network namespace' }) })
  await sameAsStandalone(t, 'bridge', badAdd(d.sock), CONF, 'FALLBACK for ADD')
  t.equal(d.requests.length, 1, 'the request was sent')
  const debug = await run(join(BIN_DIR, 'bridge'), { ...badAdd(d.sock), BERTH_LOG_LEVEL: 'debug' }, CONF)
  t.match(debug.stderr.toString(), /^berth-shim bridge: the daemon declined: another network namespace$/m)
})

t.test('the daemon gone after the REQUEST: ADD gives code 11 with the config\'s cniVersion, DEL and CHECK run standalone', { skip }, async (t) => {
  let first: FakeDaemon | undefined
  for (const [what, reply] of [
    ['closed without a word', () => 'close' as const],
    ['a RESPONSE cut short', () => encodeResponse(result(0, '{"cniVersion":"1.1.0"}')).subarray(0, 12)],
    ['a RESPONSE of another magic', () => Buffer.from('XRES\0\0\0\0\0\0\0\0\0\0\0\0\0')],
  ] as const) {
    const d = await fakeDaemon(t, { reply })
    first ??= d
    const add = await run(join(BIN_DIR, 'bridge'), cniEnv('ADD', d.sock, { CNI_NETNS: '/var/run/netns/none' }), CONF)
    t.equal(add.status, 1, `${what}: ADD exits 1`)
    t.same(JSON.parse(add.stdout.toString()), {
      cniVersion: '0.4.0',
      code: 11,
      msg: "the berth daemon stopped during ADD; try again later (the runtime's DEL cleans up what this ADD may have left)",
    }, `${what}: ADD: try again later, in the config's version`)
    t.equal(add.stderr.length, 0, `${what}: nothing on stderr`)
    await sameAsStandalone(t, 'bridge', badDel(d.sock), CONF, `${what}: DEL`)
    if (d === first) await sameAsStandalone(t, 'bridge', { ...badDel(d.sock), CNI_COMMAND: 'CHECK' }, CONF, `${what}: CHECK`)
    t.equal(d.requests.length, d === first ? 3 : 2, `${what}: every call sent its request`)
  }
  const d = await fakeDaemon(t, { reply: () => 'close' })
  for (const [stdin, version] of [
    ['{"name":"x","type":"bridge"}', '1.1.0'],
    ['', '1.1.0'],
    ['{ "cniVersion" :\n "1.0.0", "name": "x" }', '1.0.0'],
    ['{"cniVersion":"1.0.0\\"}', '1.1.0'],
  ]) {
    const add = await run(join(BIN_DIR, 'bridge'), cniEnv('ADD', d.sock), stdin)
    t.equal(JSON.parse(add.stdout.toString()).cniVersion, version, `cniVersion ${version} for ${JSON.stringify(stdin)}`)
  }
})

t.test('a daemon that takes the REQUEST and never answers: ADD code 11 after the deadline, DEL standalone', { skip }, async (t) => {
  const d = await fakeDaemon(t, { reply: () => 'hang' })
  const late = { BERTH_SHIM_RESPONSE_TIMEOUT_MS: '400' }
  const started = performance.now()
  const add = await run(join(BIN_DIR, 'bridge'), cniEnv('ADD', d.sock, { CNI_NETNS: '/var/run/netns/none', ...late }), CONF)
  const took = performance.now() - started
  t.equal(add.status, 1, 'ADD exits 1')
  t.same(JSON.parse(add.stdout.toString()), {
    cniVersion: '0.4.0',
    code: 11,
    msg: "the berth daemon did not answer the ADD in time; try again later (the runtime's DEL cleans up what this ADD may have left)",
  }, 'ADD: try again later')
  t.ok(took >= 400, `ADD waited for the deadline (${took.toFixed(0)} ms)`)
  await sameAsStandalone(t, 'bridge', { ...badDel(d.sock), ...late }, CONF, 'DEL after the deadline')
  t.equal(d.requests.length, 2, 'both calls sent their request first')
  const debug = await run(join(BIN_DIR, 'bridge'), { ...badDel(d.sock), ...late, BERTH_LOG_LEVEL: 'debug' }, CONF)
  t.match(debug.stderr.toString(), /^berth-shim bridge: no whole RESPONSE: none in time$/m, 'the reason, with debug on')
})

t.test('stdin and argv reach the fallback process intact, whether the shim read stdin or not', { skip }, async (t) => {
  const exe = probe(t)
  const big = randomBytes(4 << 20)
  const argv = ['one', 'two words', '']
  const check = async (what: string, env: Record<string, string>, stdin: Buffer) => {
    const r = await run(exe, { ...env, CNI_COMMAND: env['CNI_COMMAND'] ?? 'DEL' }, stdin, argv)
    t.equal(r.status, 0, `${what}: exit 0 (${r.stderr.toString().slice(0, 200)})`)
    t.ok(r.stdout.equals(stdin), `${what}: stdin intact (${stdin.length} bytes)`)
    const [args, ign] = r.stderr.toString().split('SigIgn:')
    t.equal(args, 'arg:one\narg:two words\narg:\n', `${what}: the same arguments`)
    // the shim ignores SIGPIPE for itself; the plugin starts with it as a runtime would give it
    t.equal(BigInt(`0x${ign?.trim()}`) & (1n << 12n), 0n, `${what}: SIGPIPE not left ignored`)
  }
  const dir = tempDir(t)
  await check('no daemon', { PATH, BERTH_SOCKET: join(dir, 'none.sock') }, big)
  await check('no daemon, empty stdin', { PATH, BERTH_SOCKET: join(dir, 'none.sock') }, Buffer.alloc(0))
  const fb = await fakeDaemon(t, { reply: () => ({ kind: 'fallback', reason: 'test' }) })
  await check('FALLBACK answer', { PATH, BERTH_SOCKET: fb.sock }, big)
  await check('FALLBACK answer, empty stdin', { PATH, BERTH_SOCKET: fb.sock }, Buffer.alloc(0))
  const gone = await fakeDaemon(t, { reply: () => 'close' })
  await check('daemon gone during DEL', { PATH, BERTH_SOCKET: gone.sock }, big)
  const wrong = await fakeDaemon(t, { hello: encodeHello('0000000000000000'), reply: () => result(0, '') })
  await check('another build', { PATH, BERTH_SOCKET: wrong.sock }, big)
  t.equal(fb.requests.length + gone.requests.length, 3, 'the shim read stdin in the FALLBACK and gone cases')
  t.ok(fb.requests[0]?.stdin.equals(big), 'the daemon got the same stdin')
})

t.test('a missing lib/<type>: a CNI error naming it', { skip }, async (t) => {
  const exe = probe(t, false)
  const r = await run(exe, { PATH, BERTH_SOCKET: join(tempDir(t), 'none.sock'), CNI_COMMAND: 'ADD' }, CONF)
  t.equal(r.status, 1)
  t.same(JSON.parse(r.stdout.toString()), {
    cniVersion: '1.1.0',
    code: 5,
    msg: `berth: cannot run the plugin ${join(realpathSync(join(exe, '..')), 'lib', 'probe')}: No such file or directory`,
  })
})
