// daemon/protocol.ts: every frame round-trips, partial input waits, malformed input is refused.
import t from 'tap'
import {
  decodeControl,
  decodeHello,
  decodeRequest,
  decodeResponse,
  encodeControl,
  encodeHello,
  encodeRequest,
  encodeResponse,
  envObject,
  ProtocolError,
  requestBodyLength,
  requestKind,
  type Request,
} from '../../../daemon/protocol.js'

const req: Request = {
  type: 'bridge',
  exe: '/opt/cni/bin/bridge',
  env: ['CNI_COMMAND=ADD', 'EMPTY=', 'EQ=a=b', `BYTES=${'\u00e9'}`],
  stdin: Buffer.from('{"cniVersion":"1.1.0"}'),
}

t.test('HELLO round-trips and waits for every byte', async (t) => {
  const b = encodeHello('0123456789abcdef')
  t.same(decodeHello(b), { version: 1, build: '0123456789abcdef' })
  for (let i = 0; i < b.length; i++) t.equal(decodeHello(b.subarray(0, i)), undefined, `${i} bytes: incomplete`)
  t.throws(() => decodeHello(Buffer.from('XXXX\x01\x00\x00\x00')), ProtocolError)
})

t.test('REQUEST round-trips, including empty and large stdin', async (t) => {
  const b = encodeRequest(req)
  t.equal(requestKind(b), 'call')
  t.equal(requestBodyLength(b), b.length - 8)
  const back = decodeRequest(b)
  t.same(back?.env, req.env)
  t.equal(back?.type, 'bridge')
  t.equal(back?.exe, '/opt/cni/bin/bridge')
  t.equal(back?.stdin.toString(), req.stdin.toString())
  t.equal(decodeRequest(b.subarray(0, b.length - 1)), undefined, 'one byte short: incomplete')
  t.equal(decodeRequest(encodeRequest({ ...req, stdin: Buffer.alloc(0) }))?.stdin.length, 0)
  const big = Buffer.alloc(4 * 1024 * 1024, 0x7b)
  t.equal(decodeRequest(encodeRequest({ ...req, stdin: big }))?.stdin.length, big.length)
})

t.test('malformed requests are refused, not read past their body', async (t) => {
  t.throws(() => requestKind(Buffer.from('GET / HTTP/1.1')), ProtocolError, 'another protocol')
  const b = encodeRequest(req)
  const trailing = Buffer.concat([b.subarray(0, 4), Buffer.from([0, 0, 0, 0]), b.subarray(8)])
  trailing.writeUInt32LE(b.length - 8 + 1, 4)
  t.throws(() => decodeRequest(Buffer.concat([trailing, Buffer.from([0])])), ProtocolError, 'trailing bytes')
  const hugeCount = Buffer.from(b)
  // the env count sits after type and exe
  const countAt = 8 + 4 + 'bridge'.length + 4 + '/opt/cni/bin/bridge'.length
  hugeCount.writeUInt32LE(0xffffffff, countAt)
  t.throws(() => decodeRequest(hugeCount), ProtocolError, 'an env count larger than the body')
})

t.test('RESPONSE: result and fallback', async (t) => {
  const r = encodeResponse({ kind: 'result', exit: 1, stdout: Buffer.from('{"code":7}'), stderr: Buffer.from('warn\n') })
  t.same(decodeResponse(r), { kind: 'result', exit: 1, stdout: Buffer.from('{"code":7}'), stderr: Buffer.from('warn\n') })
  t.equal(decodeResponse(r.subarray(0, r.length - 1)), undefined)
  t.same(decodeResponse(encodeResponse({ kind: 'fallback', reason: 'caller in another network namespace' })), {
    kind: 'fallback',
    reason: 'caller in another network namespace',
  })
})

t.test('control requests', async (t) => {
  const b = encodeControl('status')
  t.equal(requestKind(b), 'control')
  t.equal(decodeControl(b), 'status')
  t.equal(decodeControl(b.subarray(0, 6)), undefined)
  t.throws(() => decodeControl(encodeControl('x'.repeat(65))), ProtocolError, 'a command longer than any there is')
})

t.test('environment entries as getenv sees them', async (t) => {
  t.same(envObject(['A=1', 'A=2', 'B=', 'C=x=y', 'noequals', '=v']), { A: '1', B: '', C: 'x=y' })
})
