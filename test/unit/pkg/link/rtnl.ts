// Pure parts of the rtnetlink facade: NLMSG_ERROR → NetlinkError, header and attribute encoding.
import t from 'tap'
import {
  decodeReplies,
  linkBody,
  nestedAttr,
  neighborBody,
  routeBody,
  vethInfoData,
  type RawReply,
} from '../../../../pkg/link/rtnl.js'
import { toLink } from '../../../../pkg/link/link.js'
import { decodeRtMsg, encodeIfInfoMsg, encodeRtMsg } from '../../../../pkg/link/headers.js'
import { NetlinkError } from '../../../../pkg/errors/sys-error.js'
import { IFF_UP, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE } from '../../../../pkg/link/constants.js'
import { attrs } from '../../../helpers/nlattr.js'

/** An NLMSG_ERROR payload: s32 error + the header of the request it answers. */
function errorReply(errno: number): RawReply {
  const data = Buffer.alloc(20)
  data.writeInt32LE(errno, 0)
  data.writeUInt32LE(16, 4)
  return { type: NLMSG_ERROR, flags: 0, data }
}

t.test('NLMSG_ERROR becomes NetlinkError with op, target and errno name', async (t) => {
  const e = (() => {
    try {
      decodeReplies([errorReply(-17)], 'create veth', 'eth0')
    } catch (x) {
      return x
    }
    return undefined
  })()
  t.ok(e instanceof NetlinkError)
  t.match(e, { name: 'NetlinkError', op: 'create veth', target: 'eth0', code: 'EEXIST', errno: 17, message: 'create veth eth0: EEXIST' })
  t.throws(() => decodeReplies([errorReply(-19)], 'get link'), { code: 'ENODEV', target: undefined, message: 'get link: ENODEV' })
  t.throws(() => decodeReplies([errorReply(-3)], 'delete route', '10.0.0.0/8'), { code: 'ESRCH' })
})

t.test('ACK, DONE and NOOP carry no messages', async (t) => {
  t.same(decodeReplies([errorReply(0)], 'x'), [])
  t.same(decodeReplies([{ type: NLMSG_DONE, flags: 2, data: Buffer.alloc(4) }, { type: NLMSG_NOOP, flags: 0, data: Buffer.alloc(0) }], 'x'), [])
})

t.test('a link message round-trips through our header and netlink attributes', async (t) => {
  const data = Buffer.concat(linkBody({ index: 5, flags: IFF_UP }, { ifname: 'eth0', mtu: 1400, address: Buffer.from('020000000001', 'hex'), master: 9 }))
  const [m] = decodeReplies([{ type: RTM_NEWLINK, flags: 0, data }], 'get link')
  t.ok(m)
  if (!m) return
  const l = toLink(m)
  t.match(l, { index: 5, name: 'eth0', mtu: 1400, mac: '02:00:00:00:00:01', up: true, masterIndex: 9, kind: undefined, operstate: 'unknown' })
  t.throws(() => decodeReplies([{ type: RTM_NEWLINK, flags: 0, data: Buffer.alloc(8) }], 'get link'), /short ifinfomsg/)
})

t.test('route and neighbour messages decode to numeric headers', async (t) => {
  const r = Buffer.concat(routeBody({ family: 2, dstLen: 24, table: 254, protocol: 3, scope: 253, type: 1, flags: 4 }, { dst: Buffer.from([10, 1, 2, 0]), oif: 3 }))
  const [rm] = decodeReplies([{ type: RTM_NEWROUTE, flags: 0, data: r }], 'list routes')
  t.match(rm, { kind: 'route', hdr: { family: 2, dstLen: 24, table: 254, protocol: 3, scope: 253, type: 1, flags: 4 }, attrs: { oif: 3 } })
  const n = Buffer.concat(neighborBody({ family: 7, index: 4, state: 0x80, flags: 2 }, { lladdr: Buffer.alloc(6) }))
  const [nm] = decodeReplies([{ type: RTM_NEWNEIGH, flags: 0, data: n }], 'list fdb')
  t.match(nm, { kind: 'neighbor', hdr: { family: 7, index: 4, state: 0x80, flags: 2 } })
  t.same(decodeReplies([{ type: 999, flags: 0, data: Buffer.alloc(0) }], 'x'), [{ kind: 'other', type: 999 }])
})

t.test('ifinfomsg layout', async (t) => {
  const b = encodeIfInfoMsg({ family: 7, index: 300, flags: IFF_UP, change: 0xffffffff })
  t.equal(b.length, 16)
  t.equal(b[0], 7)
  t.equal(b.readInt32LE(4), 300)
  t.equal(b.readUInt32LE(8), 1)
  t.equal(b.readUInt32LE(12), 0xffffffff)
})

t.test('rtmsg round-trips', async (t) => {
  const h = { family: 10, dstLen: 64, srcLen: 0, tos: 0, table: 100, protocol: 4, scope: 0, type: 1, flags: 4 }
  t.same(decodeRtMsg(encodeRtMsg(h)), h)
})

t.test('nestedAttr sets NLA_F_NESTED, which netlink AttrStream cannot', async (t) => {
  const a = nestedAttr(12, Buffer.from([5, 0, 4, 0, 1, 0, 0, 0]))
  t.equal(a.readUInt16LE(0), 12, 'length = header + payload')
  t.equal(a.readUInt16LE(2), 0x8000 | 12)
})

t.test('veth peer info is a nested ifinfomsg plus IFLA_* attributes', async (t) => {
  const d = vethInfoData({}, { ifname: 'peer0', netNsFd: 42, mtu: 1400 })
  const [peer] = attrs(d)
  t.equal(peer?.type, 1, 'VETH_INFO_PEER')
  const payload = peer?.data ?? Buffer.alloc(0)
  t.same(payload.subarray(0, 16), Buffer.alloc(16), 'an empty ifinfomsg first')
  const inner = attrs(payload.subarray(16))
  t.equal(inner.find((x) => x.type === 3)?.data.toString('latin1'), 'peer0\0', 'IFLA_IFNAME')
  t.equal(inner.find((x) => x.type === 28)?.data.readUInt32LE(0), 42, 'IFLA_NET_NS_FD')
  t.equal(inner.find((x) => x.type === 4)?.data.readUInt32LE(0), 1400, 'IFLA_MTU')
})
