// berth daemon as a server, played against by a client that speaks the shim's protocol: calls run
// in-process with the same answers as the executables, callers it cannot serve are handed back, bad
// clients hold nothing, SIGTERM drains, status and metrics count what happened.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeHello, encodeRequest } from '../../../daemon/protocol.js'
import { FileLock } from '../../../pkg/lock/lock.js'
import { callDaemon, startDaemon } from '../../helpers/daemon.js'
import { createTestNetns } from '../../helpers/netns.js'
import { uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR)
const env = (over: Record<string, string>) => ({ CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...over })

t.test('calls run in-process and answer as the executable does', { skip }, async (t) => {
  const d = await startDaemon(t)
  const ns = await createTestNetns(t)
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' })
  ns.exec('ip', ['link', 'set', 'lo', 'down'])
  const add = await callDaemon(d.socket, { type: 'loopback', env: env({ CNI_COMMAND: 'ADD', CNI_NETNS: ns.path, CNI_IFNAME: 'lo' }), stdin: conf })
  t.equal(add.response?.kind, 'result')
  if (add.response?.kind !== 'result') return
  t.equal(add.response.exit, 0)
  t.match(JSON.parse(add.response.stdout.toString()), { cniVersion: '1.0.0', interfaces: [{ name: 'lo' }] })
  t.match(ns.exec('ip', ['-o', 'link', 'show', 'lo']), /UP/, 'the kernel shows lo up in the container namespace')
  // Errors: the same bytes and exit code as the standalone executable.
  const bads: Record<string, string>[] = [
    { CNI_COMMAND: 'ADD' },
    { CNI_COMMAND: 'ADD', CNI_NETNS: '/nonexistent/ns' },
    { CNI_COMMAND: 'FROB', CNI_NETNS: ns.path },
    { CNI_COMMAND: 'ADD', CNI_NETNS: ns.path, CNI_IFNAME: 'a/b' },
  ]
  // the Node executable itself (bin/lib/<type> beside the shims; bin/<type> in older layouts)
  const standaloneExe = existsSync(join(BIN_DIR, 'lib', 'loopback')) ? join(BIN_DIR, 'lib', 'loopback') : join(BIN_DIR, 'loopback')
  for (const bad of bads) {
    const viaDaemon = await callDaemon(d.socket, { type: 'loopback', env: env(bad), stdin: conf })
    const standalone = spawnSync(standaloneExe, { env: env(bad), input: conf, encoding: 'utf8' })
    t.equal(viaDaemon.response?.kind, 'result')
    if (viaDaemon.response?.kind !== 'result') continue
    t.equal(viaDaemon.response.stdout.toString(), standalone.stdout, `same error document for ${JSON.stringify(bad)}`)
    t.equal(viaDaemon.response.exit, standalone.status, 'same exit code')
  }
  const garbage = await callDaemon(d.socket, { type: 'loopback', env: env({ CNI_COMMAND: 'ADD', CNI_NETNS: ns.path }), stdin: Buffer.alloc(4 * 1024 * 1024, 0x5b) })
  t.match(garbage.response?.kind === 'result' ? JSON.parse(garbage.response.stdout.toString()) : {}, { code: 6 }, '4 MiB of "[" is a decoding error, not a dead daemon')
  const del = await callDaemon(d.socket, { type: 'loopback', env: env({ CNI_COMMAND: 'DEL', CNI_NETNS: ns.path, CNI_IFNAME: 'lo' }), stdin: conf })
  t.equal(del.response?.kind === 'result' ? del.response.exit : -1, 0, 'DEL')
  t.match(d.log(), /berthd: loopback ADD container=c1 ifname=lo ms=[\d.]+ code=0/, 'one log line per call')

  const status = JSON.parse(spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--json', '--socket', d.socket], { encoding: 'utf8' }).stdout)
  t.equal(status.build, add.hello?.build, 'status names the build the HELLO carried')
  t.match(status.requests.find((r: { type: string; verb: string }) => r.type === 'loopback' && r.verb === 'ADD'), { count: 5, codes: { 0: 1, 4: 3, 6: 1 } })
  const metrics = spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'metrics', '--socket', d.socket], { encoding: 'utf8' }).stdout
  t.match(metrics, /berth_daemon_requests_total\{type="loopback",verb="DEL",code="0"\} 1/)
  const human = spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--socket', d.socket], { encoding: 'utf8' }).stdout
  t.match(human, /loopback\s+ADD\s+5\s+4/, 'status as a table: calls and errors')
})

t.test('status --gc: a full collection first and V8\'s spaces, only in a daemon run with --expose-gc', { skip }, async (t) => {
  const gc = (socket: string) => spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--gc', '--json', '--socket', socket], { encoding: 'utf8' })
  const plain = await startDaemon(t)
  const refused = gc(plain.socket)
  t.not(refused.status, 0, 'refused without --expose-gc')
  t.match(refused.stderr, /expose-gc/, 'and says how to get it')
  const d = await startDaemon(t, { env: { NODE_OPTIONS: '--expose-gc' } })
  const r = gc(d.socket)
  t.equal(r.status, 0)
  const st = JSON.parse(r.stdout) as { heap_used_bytes: number; rss_bytes: number; v8_spaces: { space: string; used_bytes: number; committed_bytes: number }[] }
  t.ok(st.heap_used_bytes > 0 && st.heap_used_bytes < st.rss_bytes, 'heap used is reported, and less than the RSS')
  for (const name of ['new_space', 'old_space', 'code_space']) t.ok(st.v8_spaces.some((s) => s.space === name && s.committed_bytes >= s.used_bytes), `${name}: used <= committed`)
})

t.test('callers the daemon cannot serve are handed back to their shim', { skip }, async (t) => {
  const d = await startDaemon(t)
  const unknown = await callDaemon(d.socket, { type: 'frobnicate', env: env({ CNI_COMMAND: 'ADD' }), stdin: '{}' })
  t.match(unknown.response, { kind: 'fallback', reason: /unknown type/ })
  // A caller in another mount namespace sees other files (/run/netns, state, CNI_PATH): its shim acts alone.
  // One in another network namespace only is served (by a namespace worker; shim-daemon.ts tests where).
  const ns = await createTestNetns(t)
  const script = `const s=require('net').connect(process.argv[1]);let b=Buffer.alloc(0),sent=false;s.on('data',c=>{b=Buffer.concat([b,c]);if(!sent&&b.length>=12+b.readUInt32LE(8)){sent=true;b=b.subarray(12+b.readUInt32LE(8));s.write(Buffer.from(process.argv[2],'base64'))}});s.on('close',()=>process.stdout.write(b.toString('base64')))`
  const req = encodeRequest({ type: 'loopback', exe: join(BIN_DIR, 'loopback'), env: ['CNI_COMMAND=ADD'], stdin: Buffer.from('{}') })
  const raw = (pre: string[]) => {
    const r = spawnSync(pre[0] as string, [...pre.slice(1), '--', process.execPath, '-e', script, d.socket, req.toString('base64')], { encoding: 'utf8', timeout: 20_000 })
    return Buffer.from(r.stdout, 'base64')
  }
  const otherMnt = raw(['unshare', '--mount', '--propagation', 'private'])
  t.equal(otherMnt.subarray(0, 5).toString('latin1'), 'BRES\x01', 'another mount namespace: fallback')
  t.match(otherMnt.subarray(9).toString(), /another mount namespace/)
  const otherNet = raw(['nsenter', `--net=${ns.path}`])
  t.equal(otherNet.subarray(0, 5).toString('latin1'), 'BRES\x00', 'another network namespace: served')
  t.match(otherNet.toString(), /CNI_NETNS/, "loopback's own error for the missing CNI_NETNS")
  // A request over the size limit is not read: the shim runs it on its own.
  const huge = await new Promise<string>((resolve) => {
    const s = connect(d.socket)
    let buf: Buffer = Buffer.alloc(0)
    let sent = false
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (!sent && decodeHello(buf) !== undefined) {
        sent = true
        const header = Buffer.alloc(8)
        header.write('BREQ')
        header.writeUInt32LE(17 * 1024 * 1024, 4)
        buf = Buffer.alloc(0)
        s.write(header)
      }
    })
    s.on('close', () => resolve(buf.toString('latin1')))
  })
  t.match(huge, /^BRES\x01.*over the daemon's limit/s)
  const status = JSON.parse(spawnSync(join(BIN_DIR, 'berth'), ['daemon', 'status', '--json', '--socket', d.socket], { encoding: 'utf8' }).stdout)
  t.same(status.fallbacks, { 'unknown type frobnicate': 1, 'caller in another mount namespace': 1, 'request too large': 1 })
  t.equal(status.workers.served, 1, 'a namespace worker ran the call from the other network namespace')
})

t.test('clients that send nothing, half a request, or are not root hold nothing', { skip }, async (t) => {
  const d = await startDaemon(t, { args: ['--request-deadline-ms', '300'] })
  const closedAfter = (send: Buffer | undefined) =>
    new Promise<number>((resolve) => {
      const t0 = performance.now()
      const s = connect(d.socket)
      s.on('data', () => {
        if (send !== undefined) s.write(send)
        send = undefined
      })
      s.on('close', () => resolve(performance.now() - t0))
    })
  const full = encodeRequest({ type: 'loopback', exe: '/x', env: ['CNI_COMMAND=ADD'], stdin: Buffer.from('{}') })
  t.ok((await closedAfter(undefined)) < 3000, 'silent client: closed at the deadline')
  t.ok((await closedAfter(full.subarray(0, full.length - 3))) < 3000, 'half a request: closed at the deadline')
  t.ok((await closedAfter(Buffer.from('GET / HTTP/1.0\r\n\r\n'))) < 3000, 'another protocol: closed')
  // Not root: no HELLO, so the shim runs the plugin as that user, with that user's rights.
  chmodSync(d.socket, 0o666)
  const asNobody = spawnSync(process.execPath, ['-e', "const s=require('net').connect(process.argv[1]);let n=0;s.on('data',c=>n+=c.length);s.on('error',()=>{});s.on('close',()=>console.log(n))", d.socket], {
    uid: 65534,
    gid: 65534,
    encoding: 'utf8',
    timeout: 10_000,
  })
  t.equal(asNobody.stdout.trim(), '0', 'a caller that is not uid 0 gets no HELLO')
  const after = await callDaemon(d.socket, { type: 'loopback', env: env({ CNI_COMMAND: 'ADD' }), stdin: '{}' })
  t.equal(after.response?.kind, 'result', 'still serving')
})

t.test('many calls at once: bounded in flight, all served, distinct addresses', { skip }, async (t) => {
  const d = await startDaemon(t, { args: ['--max-in-flight', '4'] })
  const ns = await createTestNetns(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-daemon-ipam-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const net = uniqueName('dmn')
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: net, type: 'host-local', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.231.0.0/24' }]] } })
  const calls = Array.from({ length: 100 }, (_, i) =>
    callDaemon(d.socket, { type: 'host-local', env: env({ CNI_COMMAND: 'ADD', CNI_NETNS: ns.path, CNI_CONTAINERID: `c${i}` }), stdin: conf }),
  )
  const results = await Promise.all(calls)
  const ips = results.map((r) => (r.response?.kind === 'result' ? (JSON.parse(r.response.stdout.toString()) as { ips?: { address: string }[] }).ips?.[0]?.address : undefined))
  t.equal(ips.filter((ip) => ip !== undefined).length, 100, 'every ADD succeeded')
  t.equal(new Set(ips).size, 100, 'distinct addresses')
  const dels = await Promise.all(
    Array.from({ length: 100 }, (_, i) => callDaemon(d.socket, { type: 'host-local', env: env({ CNI_COMMAND: 'DEL', CNI_NETNS: ns.path, CNI_CONTAINERID: `c${i}` }), stdin: conf })),
  )
  t.ok(dels.every((r) => r.response?.kind === 'result' && r.response.exit === 0), 'every DEL succeeded')
  const left = spawnSync('ls', ['-A', join(dataDir, net)], { encoding: 'utf8' }).stdout.split('\n').filter((f) => /^\d/.test(f))
  t.same(left, [], 'no reservation left')
})

t.test('SIGTERM: no new calls, the call in flight finishes, exit within 5 s, socket removed', { skip }, async (t) => {
  const d = await startDaemon(t)
  const ns = await createTestNetns(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-daemon-ipam-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const net = uniqueName('dmn')
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: net, type: 'host-local', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.232.0.0/24' }]] } })
  spawnSync('mkdir', ['-p', join(dataDir, net)])
  // host-local's own lock (reference layout: <dataDir>/<network>/lock), held so the ADD waits in flight
  const lock = await FileLock.acquire(join(dataDir, net, 'lock'))
  const pending = callDaemon(d.socket, { type: 'host-local', env: env({ CNI_COMMAND: 'ADD', CNI_NETNS: ns.path }), stdin: conf })
  await new Promise((r) => setTimeout(r, 300))
  const stopping = d.stop()
  await new Promise((r) => setTimeout(r, 500))
  lock.release()
  const r = await pending
  t.equal(r.response?.kind === 'result' ? r.response.exit : -1, 0, 'the call in flight got its answer')
  const { code, ms } = await stopping
  t.equal(code, 0)
  t.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGTERM`)
  t.throws(() => readFileSync(d.socket), 'socket removed')
})

t.test('kill -9 mid-call: the client sees the connection break without an answer', { skip }, async (t) => {
  const d = await startDaemon(t)
  const ns = await createTestNetns(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-daemon-ipam-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const net = uniqueName('dmn')
  spawnSync('mkdir', ['-p', join(dataDir, net)])
  const lock = await FileLock.acquire(join(dataDir, net, 'lock'))
  t.teardown(() => lock.release())
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: net, type: 'host-local', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.233.0.0/24' }]] } })
  const pending = callDaemon(d.socket, { type: 'host-local', env: env({ CNI_COMMAND: 'ADD', CNI_NETNS: ns.path }), stdin: conf })
  await new Promise((r) => setTimeout(r, 300))
  d.proc.kill('SIGKILL')
  const r = await pending
  t.ok(r.hello !== undefined, 'the call was accepted')
  t.equal(r.response, undefined, 'no answer: the shim decides (ADD → code 11, others run on their own)')
  // A new daemon takes over the stale socket path.
  const again = spawn(join(BIN_DIR, 'berth'), ['daemon', '--socket', d.socket], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  again.stderr?.on('data', (c: Buffer) => (log += c.toString()))
  t.teardown(() => void again.kill('SIGTERM'))
  for (let i = 0; i < 300 && !/serving/.test(log); i++) await new Promise((res) => setTimeout(res, 20))
  t.match(log, /serving/, 'restarted on the same socket path')
})

t.test('--metrics-listen serves the Prometheus text over HTTP', { skip }, async (t) => {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const d = await startDaemon(t, { args: ['--metrics-listen', `127.0.0.1:${port}`] })
  await callDaemon(d.socket, { type: 'loopback', env: env({ CNI_COMMAND: 'ADD' }), stdin: '{}' })
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  t.match(await res.text(), /^berth_daemon_requests_total\{type="loopback",verb="ADD",code="4"\} 1$/m)
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404)
})
