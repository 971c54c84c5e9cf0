// The fixed headers of rtnetlink messages (linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h,
// linux/neighbour.h, tcmsg of linux/rtnetlink.h), encoded and decoded by hand with numeric fields: netlink 0.3.0's own header parsers
// turn numbers into enum names ('BOOT', 'LINK') and bit masks into flag objects.

export interface IfInfoMsg {
  family: number
  type: number
  index: number
  flags: number
  change: number
}
export interface IfAddrMsg {
  family: number
  prefixLen: number
  flags: number
  scope: number
  index: number
}
export interface RtMsg {
  family: number
  dstLen: number
  srcLen: number
  tos: number
  table: number
  protocol: number
  scope: number
  type: number
  flags: number
}
/** tcmsg: a qdisc, class or filter of one link. For a filter, info is (priority << 16) | htons(protocol). */
export interface TcMsg {
  index: number
  handle: number
  parent: number
  info: number
}
export const TCMSG_LEN = 20
export interface NdMsg {
  family: number
  index: number
  state: number
  flags: number
  type: number
}

function need(d: Buffer, n: number, what: string): void {
  if (d.length < n) throw new Error(`short ${what} in rtnetlink reply (${d.length} < ${n} bytes)`)
}

export function decodeIfInfoMsg(d: Buffer): IfInfoMsg {
  need(d, 16, 'ifinfomsg')
  return { family: d.readUInt8(0), type: d.readUInt16LE(2), index: d.readInt32LE(4), flags: d.readUInt32LE(8), change: d.readUInt32LE(12) }
}
export function decodeIfAddrMsg(d: Buffer): IfAddrMsg {
  need(d, 8, 'ifaddrmsg')
  return { family: d.readUInt8(0), prefixLen: d.readUInt8(1), flags: d.readUInt8(2), scope: d.readUInt8(3), index: d.readUInt32LE(4) }
}
export function decodeRtMsg(d: Buffer): RtMsg {
  need(d, 12, 'rtmsg')
  return {
    family: d.readUInt8(0),
    dstLen: d.readUInt8(1),
    srcLen: d.readUInt8(2),
    tos: d.readUInt8(3),
    table: d.readUInt8(4),
    protocol: d.readUInt8(5),
    scope: d.readUInt8(6),
    type: d.readUInt8(7),
    flags: d.readUInt32LE(8),
  }
}
export function decodeNdMsg(d: Buffer): NdMsg {
  need(d, 12, 'ndmsg')
  return { family: d.readUInt8(0), index: d.readInt32LE(4), state: d.readUInt16LE(8), flags: d.readUInt8(10), type: d.readUInt8(11) }
}

export function decodeTcMsg(d: Buffer): TcMsg {
  need(d, TCMSG_LEN, 'tcmsg')
  return { index: d.readInt32LE(4), handle: d.readUInt32LE(8), parent: d.readUInt32LE(12), info: d.readUInt32LE(16) }
}

// Netlink structures use host byte order; every target of this project is little-endian (x86-64, arm64).

export function encodeIfInfoMsg(h: Partial<IfInfoMsg>): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt8(h.family ?? 0, 0)
  b.writeUInt16LE(h.type ?? 0, 2)
  b.writeInt32LE(h.index ?? 0, 4)
  b.writeUInt32LE((h.flags ?? 0) >>> 0, 8)
  b.writeUInt32LE((h.change ?? 0) >>> 0, 12)
  return b
}
export function encodeIfAddrMsg(h: Partial<IfAddrMsg>): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt8(h.family ?? 0, 0)
  b.writeUInt8(h.prefixLen ?? 0, 1)
  b.writeUInt8((h.flags ?? 0) & 0xff, 2)
  b.writeUInt8(h.scope ?? 0, 3)
  b.writeUInt32LE(h.index ?? 0, 4)
  return b
}
export function encodeRtMsg(h: Partial<RtMsg>): Buffer {
  const b = Buffer.alloc(12)
  const bytes = [h.family, h.dstLen, h.srcLen, h.tos, h.table, h.protocol, h.scope, h.type]
  bytes.forEach((v, i) => b.writeUInt8(v ?? 0, i))
  b.writeUInt32LE((h.flags ?? 0) >>> 0, 8)
  return b
}
export function encodeNdMsg(h: Partial<NdMsg>): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt8(h.family ?? 0, 0)
  b.writeInt32LE(h.index ?? 0, 4)
  b.writeUInt16LE(h.state ?? 0, 8)
  b.writeUInt8(h.flags ?? 0, 10)
  b.writeUInt8(h.type ?? 0, 11)
  return b
}
export function encodeTcMsg(h: Partial<TcMsg>): Buffer {
  const b = Buffer.alloc(TCMSG_LEN)
  b.writeInt32LE(h.index ?? 0, 4)
  b.writeUInt32LE((h.handle ?? 0) >>> 0, 8)
  b.writeUInt32LE((h.parent ?? 0) >>> 0, 12)
  b.writeUInt32LE((h.info ?? 0) >>> 0, 16)
  return b
}
