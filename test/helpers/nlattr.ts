// Walks a netlink attribute stream (for unit tests that check what pkg/link encodes).

export interface Attr {
  type: number
  nested: boolean
  data: Buffer
}

export function attrs(b: Buffer): Attr[] {
  const out: Attr[] = []
  let off = 0
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off)
    const type = b.readUInt16LE(off + 2)
    if (len < 4) break
    out.push({ type: type & 0x3fff, nested: (type & 0x8000) !== 0, data: b.subarray(off + 4, off + len) })
    off += (len + 3) & ~3
  }
  return out
}

