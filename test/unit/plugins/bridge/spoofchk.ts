import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import type { NftJson } from '../../../../pkg/firewall/nft-batch.js'
import { masqOwner, ownerCommentOfNetwork } from '../../../../plugins/bridge/masq.js'
import { gcSpoofBatch, SPOOF_TABLE, teardownSpoofBatch } from '../../../../plugins/bridge/spoofchk.js'

const cmds = (b: { toJSON(): { nftables: unknown[] } }) => b.toJSON().nftables as Record<string, Record<string, Record<string, unknown>>>[]

// As `nft -j list table bridge berth_bridge_spoof` prints the two sets.
function listing(rows: { veth: string; mac: string; comment?: string }[]): NftObject[] {
  const el = (val: NftJson, comment?: string): NftJson => (comment ? { elem: { val, comment } } : val)
  return [
    { set: { family: 'bridge', table: SPOOF_TABLE, name: 'ports', type: 'ifname', elem: rows.map((r) => el(r.veth, r.comment)) } },
    { set: { family: 'bridge', table: SPOOF_TABLE, name: 'allowed', type: ['ifname', 'ether_addr'], elem: rows.map((r) => el({ concat: [r.veth, r.mac] }, r.comment)) } },
  ]
}

t.test('gcSpoofBatch: removes this network elements of attachments not in the valid list, keeps the rest', async (t) => {
  const c1 = masqOwner('net1', 'c1', 'eth0')
  const c2 = masqOwner('net1', 'c2', 'eth0')
  const other = masqOwner('net2', 'c3', 'eth0')
  const l = listing([
    { veth: 'veth00000001', mac: '02:00:00:00:00:01', comment: c1.comment },
    { veth: 'veth00000002', mac: '02:00:00:00:00:02', comment: c2.comment },
    { veth: 'veth00000003', mac: '02:00:00:00:00:03', comment: other.comment },
    { veth: 'veth00000004', mac: '02:00:00:00:00:04' },
  ])
  const c = cmds(gcSpoofBatch('net1', [{ containerID: 'c2', ifname: 'eth0' }], l))
  t.equal(c.length, 2, 'one delete per set')
  t.match(c[0], { delete: { element: { family: 'bridge', table: SPOOF_TABLE, name: 'ports', elem: ['veth00000001'] } } })
  t.match(c[1], { delete: { element: { family: 'bridge', table: SPOOF_TABLE, name: 'allowed', elem: [{ concat: ['veth00000001', '02:00:00:00:00:01'] }] } } })
  t.equal(cmds(gcSpoofBatch('net1', [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'eth0' }], l)).length, 0, 'all valid: nothing')
  t.equal(cmds(gcSpoofBatch('net1', [], undefined)).length, 0, 'no table: nothing')
  const all = cmds(gcSpoofBatch('net1', [], l))
  t.same((all[0]?.['delete']?.['element']?.['elem'] as unknown[]).length, 2, "empty list: both of net1's ports, not net2's nor the untagged one")
})

t.test('teardownSpoofBatch deletes only the owner elements', async (t) => {
  const c1 = masqOwner('net1', 'c1', 'eth0')
  const c2 = masqOwner('net1', 'c2', 'eth0')
  const l = listing([
    { veth: 'veth00000001', mac: '02:00:00:00:00:01', comment: c1.comment },
    { veth: 'veth00000002', mac: '02:00:00:00:00:02', comment: c2.comment },
  ])
  const c = cmds(teardownSpoofBatch(c2, l))
  t.match(c, [{ delete: { element: { name: 'ports', elem: ['veth00000002'] } } }, { delete: { element: { name: 'allowed' } } }])
})

t.test('ownerCommentOfNetwork: exact network, or a prefix when the name was cut to fit', async (t) => {
  t.ok(ownerCommentOfNetwork(masqOwner('net1', 'c1', 'eth0').comment, 'net1'))
  t.notOk(ownerCommentOfNetwork(masqOwner('net1', 'c1', 'eth0').comment, 'net10'))
  t.notOk(ownerCommentOfNetwork(masqOwner('net10', 'c1', 'eth0').comment, 'net1'))
  t.notOk(ownerCommentOfNetwork(undefined, 'net1'))
  t.notOk(ownerCommentOfNetwork('something else', 'net1'))
  const long = 'n'.repeat(200)
  t.ok(ownerCommentOfNetwork(masqOwner(long, 'f'.repeat(64), 'eth0').comment, long), 'cut name still matches its network')
  t.notOk(ownerCommentOfNetwork(masqOwner(long, 'f'.repeat(64), 'eth0').comment, 'other'))
})
