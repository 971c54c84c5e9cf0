// plugins/firewall/nft.ts: the cheap ADD (elements only) and the check of the forward chain that allows it.
import t from 'tap'
import { createElementsBatch, forwardIntact } from '../../../../plugins/firewall/nft.js'
import { ownerOf } from '../../../../plugins/firewall/owner.js'

const enc = (s: string) => new TextEncoder().encode(`${s}\0`)
const e = (name: string, attrs: [number, Uint8Array][] = []) => ({ name, attrs: new Map(attrs) })
const lookup = (set: string) => e('lookup', [[1, enc(set)]])
// NFTA_BITWISE_XOR holding NFTA_DATA_VALUE: the mark, host order (x86: little-endian)
const orMark = (mark: number) => {
  const v = new Uint8Array(8)
  new DataView(v.buffer).setUint16(0, 8, true)
  new DataView(v.buffer).setUint16(2, 1, true)
  new DataView(v.buffer).setUint32(4, mark, true)
  return e('bitwise', [[5, v]])
}
const chain = (mark: number) => [
  [e('immediate')],
  [e('meta'), lookup('isolated'), e('meta'), lookup('isolated'), e('meta'), e('meta'), lookup('same'), e('immediate')],
  [e('payload'), lookup('ctr4'), e('ct'), e('bitwise'), e('cmp'), e('meta'), orMark(mark), e('meta'), e('immediate')],
  [e('payload'), lookup('ctr4'), e('meta'), orMark(mark), e('meta'), e('immediate')],
  [e('payload'), lookup('ctr6'), e('ct'), e('bitwise'), e('cmp'), e('meta'), orMark(mark), e('meta'), e('immediate')],
  [e('payload'), lookup('ctr6'), e('meta'), orMark(mark), e('meta'), e('immediate')],
]

t.test('forwardIntact: the six rules as declared, with this mark', async (t) => {
  const M = 0x1000000
  t.ok(forwardIntact(chain(M), M))
  t.notOk(forwardIntact(chain(M), 0x2000000), 'another mark: the full ADD rewrites the rules')
  t.notOk(forwardIntact(chain(M).slice(0, 5), M), 'a rule gone')
  t.notOk(forwardIntact([], M), 'flushed')
  const swapped = chain(M)
  ;[swapped[2], swapped[4]] = [swapped[4] ?? [], swapped[2] ?? []]
  t.notOk(forwardIntact(swapped, M), 'families out of order')
})

t.test('createElementsBatch: create the addresses, add the bridge-level elements, nothing else', async (t) => {
  const o = ownerOf('net1', 'c1', 'eth0')
  const b = createElementsBatch(o, [{ family: 4, ip: '10.0.0.2' }, { family: 6, ip: 'fd00::2' }], 'br0')
  const cmds = b.toJSON().nftables as Record<string, Record<string, { name: string; elem: unknown }>>[]
  t.same(
    cmds.map((c) => `${Object.keys(c)[0]} ${Object.values(Object.values(c)[0] ?? {})[0]?.name}`),
    ['create ctr4', 'create ctr6', 'add isolated', 'add same'],
  )
  t.match(cmds[0], { create: { element: { elem: [{ elem: { val: '10.0.0.2', comment: o.comment } }] } } })
  t.same(createElementsBatch(o, [{ family: 4, ip: '10.0.0.2' }], undefined).toJSON().nftables.length, 1, 'no bridge: the address only')
})
