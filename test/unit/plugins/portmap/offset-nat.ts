// The hand-built offset DNAT transaction (plugins/portmap/offset-nat.ts over pkg/firewall/nft-netlink.ts),
// decoded back from its bytes: message framing, the registers the NAT reads, the flag; and how
// nfnlApply reads the kernel's answers (a fake addon). The kernel side is test/integration/plugins/portmap/shifted.ts.
import t from 'tap'
import type { NativeBinding } from '../../../../native/binding.js'
import { setNativeForTests } from '../../../../native/index.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { nfnlApply, parseAcks } from '../../../../pkg/firewall/nft-netlink.js'
import { offsetNatBatch, offsetNatIntact } from '../../../../plugins/portmap/offset-nat.js'

type Attrs = Map<number, Uint8Array>
function attrs(b: Uint8Array): Attrs {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out: Attrs = new Map()
  for (let off = 0; off + 4 <= b.length; ) {
    const len = v.getUint16(off, true)
    out.set(v.getUint16(off + 2, true) & 0x7fff, b.subarray(off + 4, off + len))
    off += (len + 3) & ~3
  }
  return out
}
/** The list elements of a nested list attribute, in order (attrs() keeps only the last of a type). */
function list(b: Uint8Array): Uint8Array[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out: Uint8Array[] = []
  for (let off = 0; off + 4 <= b.length; ) {
    const len = v.getUint16(off, true)
    out.push(b.subarray(off + 4, off + len))
    off += (len + 3) & ~3
  }
  return out
}
const u32 = (b: Uint8Array | undefined) => (b === undefined ? undefined : new DataView(b.buffer, b.byteOffset).getUint32(0, false))
const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b).replace(/\0+$/, ''))

interface Msg {
  type: number
  flags: number
  seq: number
  family: number
  resId: number
  body: Uint8Array
}
function messages(b: Uint8Array): Msg[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out: Msg[] = []
  for (let off = 0; off < b.length; ) {
    const len = v.getUint32(off, true)
    out.push({ type: v.getUint16(off + 4, true), flags: v.getUint16(off + 6, true), seq: v.getUint32(off + 8, true), family: v.getUint8(off + 16), resId: v.getUint16(off + 18, false), body: b.subarray(off + 20, off + len) })
    off += len
  }
  return out
}
/** The rule's expressions as [name, attributes]. */
const exprs = (rule: Msg) => list(attrs(rule.body).get(4)!).map((e) => [str(attrs(e).get(1)), attrs(attrs(e).get(2)!)] as const)

const NEWRULE = (10 << 8) | 6
const NEWSET = (10 << 8) | 9
const NEWSETELEM = (10 << 8) | 12
const NEWCHAIN = (10 << 8) | 3

t.test('framing: one batch, every message acknowledged, sequence numbers in order', async (t) => {
  const ms = messages(offsetNatBatch('abc123').encode(100))
  t.same(ms.map((m) => m.type), [0x10, (10 << 8) | 8, NEWSET, NEWSETELEM, NEWRULE, NEWCHAIN, NEWCHAIN, 0x11], 'begin, flush, an anonymous set and the rule, two chains, end')
  t.same(ms.map((m) => m.seq), [100, 101, 102, 103, 104, 105, 106, 107])
  t.equal(ms[0]!.resId, 10, 'the batch is for NFNL_SUBSYS_NFTABLES')
  t.ok(ms.slice(1, -1).every((m) => (m.flags & 0x5) === 0x5 && m.family === 1), 'requests with ACK, family inet')
  t.same(ms.filter((m) => m.type === NEWRULE || m.type === NEWCHAIN || m.type === ((10 << 8) | 8)).map((m) => [str(attrs(m.body).get(1)), str(attrs(m.body).get(m.type === NEWCHAIN ? 3 : 2))]), [
    ['berth_portmap', 'shifted_3'],
    ['berth_portmap', 'shifted_3'],
    ['berth_portmap', 'offset_nat_on'],
    ['berth_portmap', 'layout_3_abc123'],
  ], 'the chain refilled, then the markers')
  t.ok(ms.every((m) => m.body.length % 4 === 0), 'attributes padded')
  const set = attrs(ms[2]!.body)
  t.same([str(set.get(2)), u32(set.get(3)), u32(set.get(4)), u32(set.get(5)), u32(set.get(10))], ['__set%d', 3, 12, 1, 1], 'anonymous constant set of inet_proto, 1-byte keys, id 1')
  const elems = attrs(ms[3]!.body)
  t.same(list(elems.get(3)!).map((e) => [...attrs(attrs(e).get(1)!).get(1)!]), [[6], [17], [132]], 'tcp, udp, sctp')
  t.equal(u32(elems.get(4)), 1, 'elements of set id 1')
})

t.test('the rule: key address . l4proto . port, data read as address and port window, the offset flag', async (t) => {
  const rule = messages(offsetNatBatch('g').encode(1)).find((m) => m.type === NEWRULE)!
  const e = exprs(rule)
  t.same(e.map(([n]) => n), ['meta', 'lookup', 'fib', 'cmp', 'meta', 'cmp', 'payload', 'meta', 'payload', 'lookup', 'nat'], "expressions in nft's order")
  t.same([str(e[1]![1].get(1)), u32(e[1]![1].get(4))], ['__set%d', 1], 'l4proto looked up in the anonymous set')
  t.same([...attrs(e[5]![1].get(3)!).get(1)!], [2], 'nfproto ipv4')
  t.same([u32(e[6]![1].get(3)), u32(e[6]![1].get(4)), u32(e[7]![1].get(1)), u32(e[8]![1].get(1))], [16, 4, 9, 10], 'daddr offset and length, l4proto and port registers (REG32_01, _02)')
  t.equal(str(e[9]![1].get(1)), 'shift4')
  const n = e[10]![1]
  t.same({ type: u32(n.get(1)), family: u32(n.get(2)) }, { type: 1, family: 2 }, 'dnat ip')
  t.same({ addrMin: u32(n.get(3)), addrMax: u32(n.get(4)), protoMin: u32(n.get(5)), protoMax: u32(n.get(6)) }, { addrMin: 8, protoMin: 9, addrMax: 10, protoMax: 11 }, 'registers of the data: address min, port min, address max, port max')
  t.equal(u32(n.get(7)), 0x20, 'NF_NAT_RANGE_PROTO_OFFSET')
  const refused = exprs(messages(offsetNatBatch('g', 0x120).encode(1)).find((m) => m.type === NEWRULE)!)
  t.equal(u32(refused[10]![1].get(7)), 0x120, 'the test seam sends a flag outside the kernel mask')
})

t.test('nfnlApply: acks pass, the first refused message is named with its errno', async (t) => {
  t.teardown(() => setNativeForTests(undefined))
  const ack = (seq: number, errno: number) => {
    const b = new Uint8Array(36)
    const v = new DataView(b.buffer)
    v.setUint32(0, 36, true)
    v.setUint16(4, 2, true)
    v.setUint32(8, seq, true)
    v.setInt32(16, -errno, true)
    return b
  }
  let answer: (req: Uint8Array) => Uint8Array = () => new Uint8Array(0)
  let expected = 0
  setNativeForTests({
    nfnlTransact: (req: Uint8Array, n: number) => {
      expected = n
      return answer(req)
    },
  } as unknown as NativeBinding)
  const seqs = (req: Uint8Array) => messages(req).slice(1, -1).map((m) => m.seq)
  answer = (req) => Uint8Array.from(seqs(req).flatMap((s) => [...ack(s, 0)]))
  t.doesNotThrow(() => nfnlApply(undefined, offsetNatBatch('g')))
  t.equal(expected, 6, 'the addon waits for one answer per message')
  answer = (req) => Uint8Array.from(seqs(req).flatMap((s, i) => [...ack(s, i === 3 ? 22 : 0)]))
  const e = t.throws(() => nfnlApply(undefined, offsetNatBatch('g'))) as CniError
  t.equal(e.code, 102)
  t.match(e.message, /nf_tables refused "add rule inet berth_portmap shifted_3": EINVAL/)
  answer = (req) => ack(seqs(req)[0]!, 0)
  t.throws(() => nfnlApply(undefined, offsetNatBatch('g')), /answered 1 of 6/, 'missing answers are an error')
  t.same(parseAcks(Uint8Array.from([...ack(7, 0), ...ack(8, 95)])), [{ seq: 7, errno: 0 }, { seq: 8, errno: 95 }])
})

t.test('offsetNatIntact reads the rule back (nfnlListRules): the flag, and exactly one rule', async (t) => {
  t.teardown(() => setNativeForTests(undefined))
  const done = (() => {
    const b = new Uint8Array(20)
    const v = new DataView(b.buffer)
    v.setUint32(0, 20, true)
    v.setUint16(4, 3, true)
    return b
  })()
  // A dump answers with NEWRULE messages shaped like the ones we send, then NLMSG_DONE.
  const ruleMsg = (flags: number) => {
    const b = offsetNatBatch('g', flags).encode(1)
    const m = messages(b).find((x) => x.type === NEWRULE)!
    const off = m.body.byteOffset - 20
    return b.subarray(off, off + 20 + m.body.length)
  }
  let reply: Uint8Array = new Uint8Array(0)
  let request: Uint8Array = new Uint8Array(0)
  setNativeForTests({ nfnlTransact: (req: Uint8Array) => ((request = req), reply) } as unknown as NativeBinding)
  reply = Uint8Array.from([...ruleMsg(0x23), ...done])
  t.equal(offsetNatIntact(), true, 'the kernel reports MAP_IPS | PROTO_SPECIFIED | OFFSET')
  const req = messages(request)[0]!
  t.same([req.type, req.flags & 0x300, str(attrs(req.body).get(1)), str(attrs(req.body).get(2))], [(10 << 8) | 7, 0x300, 'berth_portmap', 'shifted_3'], 'a GETRULE dump of the chain')
  reply = Uint8Array.from([...ruleMsg(0x3), ...done])
  t.equal(offsetNatIntact(), false, 'restored by nft: no offset flag')
  reply = Uint8Array.from([...ruleMsg(0x23), ...ruleMsg(0x23), ...done])
  t.equal(offsetNatIntact(), false, 'two rules is not what we made')
  reply = Uint8Array.from(done)
  t.equal(offsetNatIntact(), false, 'no rule')
})
