import t from 'tap'
import { attrsOf } from '../../../../pkg/link/rtnl.js'
import {
  filterInfo,
  htbClassOptions,
  htbQdiscOptions,
  parseHtbClassOptions,
  parseTbfOptions,
  parseU32Options,
  tbfOptions,
  tcHandle,
  tickInUsec,
  u32Options,
  ETH_P_ALL,
  ETH_P_IP,
} from '../../../../pkg/link/tc.js'

t.test('handles and filter info as the kernel packs them', async (t) => {
  t.equal(tcHandle(1, 0), 0x00010000)
  t.equal(tcHandle(0xffff, 0), 0xffff0000)
  t.equal(tcHandle(1, 48), 0x00010030)
  // priority high, protocol in network byte order low: ETH_P_ALL 0x0003 -> 0x0300
  t.equal(filterInfo(1, ETH_P_ALL), 0x00010300)
  t.equal(filterInfo(16, ETH_P_IP), 0x00100008)
})

t.test('tbf options round trip, 64-bit rates in their own attribute', async (t) => {
  const small = { rate: 2_500_000, buffer: 156_250, limit: 87_500 }
  t.same(parseTbfOptions(tbfOptions(small)), small)
  const parms = attrsOf(tbfOptions(small)).get(1)!
  t.equal(parms.length, 36, 'struct tc_tbf_qopt')
  t.equal(parms.readUInt8(1), 1, 'linklayer ethernet: no rate table needed')
  t.equal(parms.readUInt32LE(8), 2_500_000)
  const big = { rate: 12_500_000_000, buffer: 10, limit: 1000 }
  t.equal(attrsOf(tbfOptions(big)).get(1)!.readUInt32LE(8), 0xffffffff, 'the 32-bit field is capped')
  t.same(parseTbfOptions(tbfOptions(big)), big, 'TCA_TBF_RATE64 carries the rate')
  t.equal(parseTbfOptions(undefined), undefined)
})

t.test('htb options', async (t) => {
  const init = attrsOf(htbQdiscOptions(48)).get(2)!
  t.same([init.readUInt32LE(0), init.readUInt32LE(4), init.readUInt32LE(8)], [3, 10, 48], 'version 3, r2q 10, default class')
  const c = { rate: 2_500_000, ceil: 12_500_000_000, buffer: 156_250 }
  t.same(parseHtbClassOptions(htbClassOptions(c)), c)
})

t.test('u32: match all with a redirect, subnet keys with a class', async (t) => {
  const all = parseU32Options(u32Options({ keys: [], classId: tcHandle(1, 1), redirectTo: 42 }))
  t.same(all, { keys: [], classId: 0x00010001, redirectTo: 42 })
  const sel = attrsOf(u32Options({ keys: [] })).get(5)!
  t.same([sel.readUInt8(0), sel.readUInt8(2), sel.length], [1, 1, 32], 'terminal, one all-zero key: match all')
  const keys = [{ mask: 0xffffff00, value: 0xc0000201, off: 16 }]
  t.same(parseU32Options(u32Options({ keys, classId: 7 })), { keys: [{ mask: 0xffffff00, value: 0xc0000200, off: 16 }], classId: 7 }, 'value masked')
})

t.test('ticks per microsecond from /proc/net/psched', async (t) => {
  t.equal(tickInUsec('000003e8 00000040 000f4240 3b9aca00'), 15.625)
  t.equal(tickInUsec('00000001 00000001 3b9aca00 3b9aca00'), 1000, 'high-resolution clock: us2t/us2t * 1000')
  t.equal(tickInUsec('garbage'), 15.625, 'unreadable: the kernel constant')
})
