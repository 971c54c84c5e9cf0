import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import { NFT_COMMENT_MAX, type NftJson } from '../../../../pkg/firewall/nft-batch.js'
import { createMasqElementsBatch, deleteMasqKeysBatch, fixedChainsIntact, gcMasqBatch, masqOwner, NAT_TABLE, setupMasqBatch, teardownMasqBatch } from '../../../../plugins/bridge/masq.js'

const cmds = (b: { toJSON(): { nftables: unknown[] } }) => b.toJSON().nftables as Record<string, Record<string, Record<string, unknown>>>[]

t.test('masqOwner: stable tag per (network, container, ifname); comment fits nftables', async (t) => {
  const a = masqOwner('net1', 'c1', 'eth0')
  t.equal(a.tag, masqOwner('net1', 'c1', 'eth0').tag)
  t.not(a.tag, masqOwner('net1', 'c1', 'eth1').tag)
  t.not(a.tag, masqOwner('net2', 'c1', 'eth0').tag)
  t.match(a.comment, /^[0-9a-f]{16} net:net1 id:c1 if:eth0$/)
  t.equal(a.netHash, masqOwner('net1', 'other', 'eth9').netHash, 'one chain per network')
  const long = masqOwner('n'.repeat(300), 'f'.repeat(64), 'eth0')
  t.ok(Buffer.byteLength(long.comment) <= NFT_COMMENT_MAX, 'long names are cut to fit')
  t.ok(long.comment.startsWith(`${long.tag} `))
})

t.test('setupMasqBatch: declarations, fixed rules, one map element per address, subnets', async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const c = cmds(setupMasqBatch(o, ['10.1.0.5/24', 'fd00::5/64'], undefined))
  const verbs = c.map((x) => `${Object.keys(x)[0]} ${Object.keys(Object.values(x)[0] ?? {})[0]}`)
  t.equal(verbs.filter((v) => v === 'add rule').length, 2 + 5, 'two postrouting rules and five network-chain rules')
  t.equal(verbs.filter((v) => v === 'flush chain').length, 2, 'both fixed chains are rewritten, never appended to')
  const elems = c.filter((x) => x['add']?.['element']).map((x) => x['add']?.['element'])
  t.match(elems, [
    { table: NAT_TABLE, name: 'src4', elem: [[{ elem: { val: '10.1.0.5', comment: o.comment } }, { jump: { target: `net_${o.netHash}` } }]] },
    { name: `dst4_${o.netHash}`, elem: [{ prefix: { addr: '10.1.0.0', len: 24 } }] },
    { name: 'src6', elem: [[{ elem: { val: 'fd00::5', comment: o.comment } }, { jump: { target: `net_${o.netHash}` } }]] },
    { name: `dst6_${o.netHash}`, elem: [{ prefix: { addr: 'fd00::', len: 64 } }] },
  ])
  t.notOk(verbs.includes('delete element'), 'nothing to replace')
})

t.test('createMasqElementsBatch: only creates the elements and adds the subnets (nothing declared, nothing deleted)', async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const c = cmds(createMasqElementsBatch(o, ['10.1.0.5/24', 'fd00::5/64']))
  const verbs = c.map((x) => `${Object.keys(x)[0]} ${Object.keys(Object.values(x)[0] ?? {})[0]}`)
  t.same(verbs, ['create element', 'add element', 'create element', 'add element'], 'create fails on a leftover of the same address')
  t.match(c.map((x) => Object.values(Object.values(x)[0] ?? {})[0]), [
    { table: NAT_TABLE, name: 'src4', elem: [[{ elem: { val: '10.1.0.5', comment: o.comment } }, { jump: { target: `net_${o.netHash}` } }]] },
    { name: `dst4_${o.netHash}`, elem: [{ prefix: { addr: '10.1.0.0', len: 24 } }] },
    { name: 'src6', elem: [[{ elem: { val: 'fd00::5', comment: o.comment } }, { jump: { target: `net_${o.netHash}` } }]] },
    { name: `dst6_${o.netHash}`, elem: [{ prefix: { addr: 'fd00::', len: 64 } }] },
  ])
  t.same(cmds(createMasqElementsBatch(o, ['10.1.0.5/24', '10.1.0.5/24'])).length, 2, 'one element per address')
})

t.test('fixedChainsIntact: the rules declare() writes, in shape, as the kernel dumps them', async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const lookup = (set: string) => ({ name: 'lookup', attrs: new Map([[1, new TextEncoder().encode(`${set}\0`)]]) })
  const e = (name: string) => ({ name, attrs: new Map<number, Uint8Array>() })
  const post = [[e('meta'), e('cmp'), e('payload'), lookup('src4')], [e('meta'), e('cmp'), e('payload'), lookup('src6')]]
  const net = [
    [e('payload'), lookup(`dst4_${o.netHash}`), e('immediate')],
    [e('payload'), lookup(`dst6_${o.netHash}`), e('immediate')],
    [e('payload'), e('bitwise'), e('cmp'), e('immediate')],
    [e('payload'), e('bitwise'), e('cmp'), e('immediate')],
    [e('masq')],
  ]
  t.ok(fixedChainsIntact(post, net, o), 'as declared')
  t.notOk(fixedChainsIntact([], net, o), 'postrouting flushed')
  t.notOk(fixedChainsIntact(post.slice(0, 1), net, o), 'one vmap rule gone')
  t.notOk(fixedChainsIntact([post[1] ?? [], post[0] ?? []], net, o), 'rules in another order')
  t.notOk(fixedChainsIntact(post, net.slice(0, 4), o), 'masquerade rule gone')
  t.notOk(fixedChainsIntact(post, [...net.slice(0, 4), [e('counter')]], o), 'last rule not a masquerade')
  t.notOk(fixedChainsIntact(post, net, masqOwner('net2', 'c1', 'eth0')), "another network's sets")
})

// As `nft -j list table` prints a verdict map (its value type under "map").
const listing = (elems: { val: string; comment?: string }[]): NftObject[] => [
  {
    map: {
      family: 'inet',
      table: NAT_TABLE,
      name: 'src4',
      type: 'ipv4_addr',
      map: 'verdict',
      elem: elems.map((e) => [e.comment ? { elem: { val: e.val, comment: e.comment } } : e.val, { jump: { target: 'x' } }]) as NftJson,
    },
  },
]

t.test('setupMasqBatch replaces a leftover element holding the same address', async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const c = cmds(setupMasqBatch(o, ['10.1.0.5/24'], listing([{ val: '10.1.0.5', comment: 'old' }, { val: '10.1.0.6' }])))
  t.match(c.filter((x) => x['delete']).map((x) => x['delete']?.['element']), [{ name: 'src4', elem: ['10.1.0.5'] }])
})

t.test('teardownMasqBatch deletes exactly the owner-tagged elements', async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const other = masqOwner('net1', 'c2', 'eth0')
  const l = listing([
    { val: '10.1.0.5', comment: o.comment },
    { val: '10.1.0.6', comment: other.comment },
    { val: '10.1.0.7' },
  ])
  t.match(cmds(teardownMasqBatch(o, l)), [{ delete: { element: { name: 'src4', elem: ['10.1.0.5'] } } }])
  t.equal(teardownMasqBatch(o, undefined).length, 0, 'no table: nothing to do')
  t.equal(teardownMasqBatch(masqOwner('net9', 'c1', 'eth0'), l).length, 0, 'another network owns nothing here')
})

t.test('gcMasqBatch keeps valid attachments and other networks', async (t) => {
  const mine = masqOwner('net1', 'c1', 'eth0')
  const gone = masqOwner('net1', 'c2', 'eth0')
  const otherNet = masqOwner('net2', 'c3', 'eth0')
  const l: NftObject[] = [
    {
      map: {
        family: 'inet',
        table: NAT_TABLE,
        name: 'src4',
        type: 'ipv4_addr',
        map: 'verdict',
        elem: [
          [{ elem: { val: '10.1.0.5', comment: mine.comment } }, { jump: { target: `net_${mine.netHash}` } }],
          [{ elem: { val: '10.1.0.6', comment: gone.comment } }, { jump: { target: `net_${gone.netHash}` } }],
          [{ elem: { val: '10.2.0.7', comment: otherNet.comment } }, { jump: { target: `net_${otherNet.netHash}` } }],
        ],
      },
    },
  ]
  t.match(cmds(gcMasqBatch('net1', [{ containerID: 'c1', ifname: 'eth0' }], l)), [{ delete: { element: { name: 'src4', elem: ['10.1.0.6'] } } }])
  t.equal(gcMasqBatch('net1', [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'eth0' }], l).length, 0)
  t.equal(gcMasqBatch('net1', [], undefined).length, 0)
})

t.test('spoof check batches: one fixed rule, elements by owner', async (t) => {
  const { setupSpoofBatch, teardownSpoofBatch, SPOOF_TABLE } = await import('../../../../plugins/bridge/spoofchk.js')
  const o = masqOwner('net1', 'c1', 'eth0')
  const c = cmds(setupSpoofBatch(o, 'veth01234567', '02:AA:00:00:00:01'))
  t.equal(c.filter((x) => x['add']?.['rule']).length, 1)
  t.equal(c.filter((x) => x['flush']?.['chain']).length, 1, 'the rule is rewritten, never appended')
  t.match(c.filter((x) => x['add']?.['element']).map((x) => x['add']?.['element']), [
    { table: SPOOF_TABLE, name: 'ports', elem: [{ elem: { val: 'veth01234567', comment: o.comment } }] },
    { name: 'allowed', elem: [{ elem: { val: { concat: ['veth01234567', '02:aa:00:00:00:01'] }, comment: o.comment } }] },
  ])
  const listing: NftObject[] = [
    { set: { family: 'bridge', table: SPOOF_TABLE, name: 'ports', type: 'ifname', elem: [{ elem: { val: 'veth01234567', comment: o.comment } }, { elem: { val: 'vethffffffff', comment: 'x' } }] } },
  ]
  t.match(cmds(teardownSpoofBatch(o, listing)), [{ delete: { element: { name: 'ports', elem: ['veth01234567'] } } }])
})

t.test("setupMasqBatch 'blind': replaces by key without a listing (add, delete, add with the owner's comment)", async (t) => {
  const o = masqOwner('net1', 'c1', 'eth0')
  const c = cmds(setupMasqBatch(o, ['10.1.0.5/24', 'fd00::5/64'], 'blind'))
  const src = c
    .filter((x) => (x['add']?.['element'] ?? x['delete']?.['element'])?.['name']?.toString().startsWith('src'))
    .map((x) => `${Object.keys(x)[0]} ${JSON.stringify(Object.values(x)[0]?.['element']?.['elem'])}`)
  const jump = JSON.stringify({ jump: { target: `net_${o.netHash}` } })
  t.same(src, [
    `add [["10.1.0.5",${jump}]]`,
    'delete ["10.1.0.5"]',
    `add [[{"elem":{"val":"10.1.0.5","comment":"${o.comment}"}},${jump}]]`,
    `add [["fd00::5",${jump}]]`,
    'delete ["fd00::5"]',
    `add [[{"elem":{"val":"fd00::5","comment":"${o.comment}"}},${jump}]]`,
  ])
})

t.test('deleteMasqKeysBatch: the recorded addresses by key, per family map', async (t) => {
  const c = cmds(deleteMasqKeysBatch(['10.1.0.5', 'fd00::5', '10.1.0.6']))
  t.same(
    c.map((x) => [x['delete']?.['element']?.['name'], x['delete']?.['element']?.['elem']]),
    [
      ['src4', ['10.1.0.5', '10.1.0.6']],
      ['src6', ['fd00::5']],
    ],
  )
  t.same(cmds(deleteMasqKeysBatch([])), [], 'nothing recorded: nothing to do')
})
