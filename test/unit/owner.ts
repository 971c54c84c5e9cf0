// pkg/owner: the owner-comment format, and that comments written by earlier berth releases (literal
// fixtures: bridge's masq.ts, firewall's owner.ts and portmap's plan.ts before pkg/owner existed) are
// produced and matched unchanged.
import t from 'tap'
import { NFT_COMMENT_MAX } from '../../pkg/firewall/nft-batch.js'
import { commentOfNetwork, networkTag, OWNER_COMMENT_MAX, ownedBy, ownerOf, ownerTagOf, ownerText, parseOwnerComment } from '../../pkg/owner/owner.js'
import { gcMasqBatch, masqOwner, ownerCommentOfNetwork, teardownMasqBatch } from '../../plugins/bridge/masq.js'
import { gcSpoofBatch, teardownSpoofBatch } from '../../plugins/bridge/spoofchk.js'
import { ownerOf as firewallOwner, networkTag as firewallNetTag } from '../../plugins/firewall/owner.js'
import { gcBatch as firewallGc, teardownBatch as firewallTeardown } from '../../plugins/firewall/nft.js'
import type { NftObject } from '../../pkg/firewall/nft.js'
import type { NftJson } from '../../pkg/firewall/nft-batch.js'

const CID = '3f2a9c1d7e5b40a8b6c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0'
const LONG = `${'n'.repeat(120)}-tail`
// What the code before pkg/owner wrote (computed with that code).
const OLD = {
  bridge: 'a437aa0b548c5c67 net:mynet id:3f2a9c1d7e5b if:eth0',
  bridgeLong: `bc70aa05dd67ecb9 net:${'n'.repeat(83)} id:3f2a9c1d7e5b if:net1`,
  firewall: 'a437aa0b548c5c67 790f5dce net:mynet id:3f2a9c1d7e5b if:eth0',
  firewallLong: `bc70aa05dd67ecb9 c81ecc41 net:${'n'.repeat(74)} id:3f2a9c1d7e5b if:net1`,
  portmap: 'a437aa0b548c5c67 11c844f9 net:mynet id:3f2a9c1d7e5b if:eth0',
}

t.test('the limit is nftables comment limit', async (t) => {
  t.equal(OWNER_COMMENT_MAX, NFT_COMMENT_MAX)
})

t.test('ownerOf writes the same comments as every earlier berth', async (t) => {
  t.equal(ownerOf('mynet', CID, 'eth0').comment, OLD.bridge, 'bridge: no network tag')
  t.equal(ownerOf(LONG, CID, 'net1').comment, OLD.bridgeLong, 'bridge: long name cut to fit')
  t.equal(Buffer.byteLength(OLD.bridgeLong), OWNER_COMMENT_MAX)
  t.equal(ownerOf('mynet', CID, 'eth0', { netTagSalt: 'berth-firewall\0' }).comment, OLD.firewall, 'firewall: salted network tag')
  t.equal(ownerOf(LONG, CID, 'net1', { netTagSalt: 'berth-firewall\0' }).comment, OLD.firewallLong)
  t.equal(ownerOf('mynet', CID, 'eth0', { netTagSalt: '' }).comment, OLD.portmap, 'portmap: plain network tag')
  t.equal(masqOwner('mynet', CID, 'eth0').comment, OLD.bridge, 'through the bridge plugin')
  t.equal(firewallOwner('mynet', CID, 'eth0').comment, OLD.firewall, 'through the firewall plugin')
  t.equal(firewallOwner('mynet', CID, 'eth0').netTag, firewallNetTag('mynet'))
})

t.test('tags: one per (network, container, ifname); network tags per salt', async (t) => {
  const a = ownerOf('n1', 'c1', 'eth0')
  t.equal(a.tag, ownerOf('n1', 'c1', 'eth0').tag)
  t.not(a.tag, ownerOf('n1', 'c1', 'eth1').tag)
  t.not(a.tag, ownerOf('n2', 'c1', 'eth0').tag)
  t.not(a.tag, ownerOf('n1', 'c2', 'eth0').tag)
  t.match(a.tag, /^[0-9a-f]{16}$/)
  t.equal(a.netTag, undefined)
  t.not(networkTag('n1'), networkTag('n1', 'x'))
  t.match(networkTag('n1'), /^[0-9a-f]{8}$/)
})

t.test('comments always fit, with odd input made harmless', async (t) => {
  for (const net of ['x'.repeat(300), 'é'.repeat(100), 'a"b\nc d']) {
    const o = ownerOf(net, 'f'.repeat(64), 'eth0', { netTagSalt: '' })
    t.ok(Buffer.byteLength(o.comment) <= OWNER_COMMENT_MAX, `fits: ${net.slice(0, 10)}`)
    t.notMatch(o.comment, /["\n]/)
    t.ok(parseOwnerComment(o.comment), 'and parses back')
  }
})

t.test('parsing and matching accept old and new comments alike', async (t) => {
  t.match(parseOwnerComment(OLD.bridge), { tag: 'a437aa0b548c5c67', netTag: undefined, network: 'mynet', containerId: '3f2a9c1d7e5b', ifName: 'eth0', cut: false })
  t.match(parseOwnerComment(OLD.firewall), { tag: 'a437aa0b548c5c67', netTag: '790f5dce', network: 'mynet' })
  t.match(parseOwnerComment(OLD.bridgeLong), { cut: true, network: 'n'.repeat(83) })
  t.equal(parseOwnerComment('not an owner'), undefined)
  t.equal(parseOwnerComment(undefined), undefined)
  t.equal(ownerTagOf(OLD.portmap), 'a437aa0b548c5c67')
  t.equal(ownerTagOf('zz'), '')
  t.ok(ownedBy(OLD.bridge, ownerOf('mynet', CID, 'eth0')))
  t.ok(ownedBy(OLD.firewall, 'a437aa0b548c5c67'))
  t.notOk(ownedBy(OLD.bridge, ownerOf('mynet', CID, 'eth1')))
  t.notOk(ownedBy(undefined, 'a437aa0b548c5c67'))
  t.equal(ownerText(OLD.firewall), 'net:mynet id:3f2a9c1d7e5b if:eth0')
  t.equal(ownerText('junk'), 'an unknown owner')
})

t.test('commentOfNetwork: by network tag when there is one, else by (possibly cut) name', async (t) => {
  t.ok(commentOfNetwork(OLD.bridge, 'mynet'))
  t.notOk(commentOfNetwork(OLD.bridge, 'mynet2'), 'uncut names match exactly')
  t.ok(commentOfNetwork(OLD.bridgeLong, LONG), 'a cut name matches the network it is a prefix of')
  t.ok(commentOfNetwork(OLD.firewall, 'mynet', 'berth-firewall\0'))
  t.notOk(commentOfNetwork(OLD.firewall, 'mynet', ''), 'another salt: another tag')
  t.ok(commentOfNetwork(OLD.firewallLong, LONG, 'berth-firewall\0'))
  t.ok(ownerCommentOfNetwork(OLD.bridge, 'mynet'), 'the bridge plugin wrapper')
})

// Elements as `nft -j list table` prints them, carrying the old comments.
const mapListing = (name: string, elems: { val: string; comment: string; target: string }[]): NftObject[] => [
  { map: { family: 'inet', table: 'berth_bridge', name, type: 'ipv4_addr', map: 'verdict', elem: elems.map((e) => [{ elem: { val: e.val, comment: e.comment } }, { jump: { target: e.target } }]) as unknown as NftJson } },
]
const deleted = (b: { toJSON(): { nftables: unknown[] } }) => JSON.stringify(b.toJSON().nftables.filter((c) => JSON.stringify(c).startsWith('{"delete"')))

t.test('DEL and GC of the bridge and firewall match elements written by the old code', async (t) => {
  const o = masqOwner('mynet', CID, 'eth0')
  const chain = `net_${o.netHash}`
  const nat = mapListing('src4', [
    { val: '10.0.0.2', comment: OLD.bridge, target: chain },
    { val: '10.0.0.3', comment: ownerOf('mynet', 'other', 'eth0').comment, target: chain },
  ])
  t.match(deleted(teardownMasqBatch(o, nat)), /10\.0\.0\.2/, 'bridge DEL finds the old element')
  t.notMatch(deleted(teardownMasqBatch(o, nat)), /10\.0\.0\.3/)
  t.match(deleted(gcMasqBatch('mynet', [{ containerID: 'other', ifname: 'eth0' }], nat)), /10\.0\.0\.2/, 'bridge GC collects it')
  const spoof: NftObject[] = [{ set: { family: 'bridge', table: 'berth_bridge_spoof', name: 'ports', type: 'ifname', elem: [{ elem: { val: 'veth1', comment: OLD.bridge } }] } }]
  t.match(deleted(teardownSpoofBatch(o, spoof)), /veth1/, 'spoof-check DEL')
  t.match(deleted(gcSpoofBatch('mynet', [], spoof)), /veth1/, 'spoof-check GC')

  const f = firewallOwner('mynet', CID, 'eth0')
  const fw: NftObject[] = [{ set: { family: 'inet', table: 'berth_firewall', name: 'ctr4', type: 'ipv4_addr', elem: [{ elem: { val: '10.0.0.2', comment: OLD.firewall } }] } }]
  t.match(deleted(firewallTeardown(f, fw)), /10\.0\.0\.2/, 'firewall DEL finds the old element')
  t.match(deleted(firewallGc(firewallNetTag('mynet'), new Set(), fw)), /10\.0\.0\.2/, 'firewall GC collects it')
  t.equal(deleted(firewallGc(firewallNetTag('mynet'), new Set([f.tag]), fw)), '[]', 'and keeps it while valid')
})
