import t from 'tap'
import type { IptSavedRule } from '../../../../pkg/firewall/iptables-format.js'
import { masqOwner } from '../../../../plugins/bridge/masq.js'
import { fixIptJumpBatch, gcIptMasqBatch, iptNetChain, setupIptMasqBatch, teardownIptMasqBatch } from '../../../../plugins/bridge/masq-iptables.js'

const o1 = masqOwner('net1', 'c1', 'eth0')
const o2 = masqOwner('net1', 'c2', 'eth0')
const chain = iptNetChain(o1)
const rulesOf = (o: typeof o1, ip: string, subnet: string): IptSavedRule[] => [
  { chain, args: ['-s', ip, '-d', subnet, '-j', 'RETURN'], comment: o.comment },
  { chain, args: ['-s', ip, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'], comment: o.comment },
]

t.test('network chain name fits iptables and is shared by the network', async (t) => {
  t.match(chain, /^BERTH-BR-[0-9a-f]{12}$/)
  t.equal(iptNetChain(o2), chain)
  t.not(iptNetChain(masqOwner('net2', 'c1', 'eth0')), chain)
})

t.test('fixIptJumpBatch: adds the jump when missing, nothing when present, removes duplicates', async (t) => {
  t.equal(fixIptJumpBatch(4, o1, undefined).toRestoreText(), `*nat\n-A POSTROUTING -m comment --comment "berth-bridge net:net1" -j ${chain}\nCOMMIT\n`)
  const jump: IptSavedRule = { chain: 'POSTROUTING', args: ['-j', chain], comment: 'berth-bridge net:net1' }
  const other: IptSavedRule = { chain: 'POSTROUTING', args: ['-j', 'SOMETHING-ELSE'] }
  t.equal(fixIptJumpBatch(4, o1, [other, jump]).length, 0)
  t.equal(fixIptJumpBatch(6, o1, [jump, other, jump]).toRestoreText(), `*nat\n-D POSTROUTING -m comment --comment "berth-bridge net:net1" -j ${chain}\nCOMMIT\n`)
})

t.test('setupIptMasqBatch: two commented rules per address of the family, in the network chain', async (t) => {
  const cidrs = ['10.1.0.5/24', 'fd00::5/64']
  t.equal(
    setupIptMasqBatch(4, o1, cidrs, []).toRestoreText(),
    [
      '*nat',
      `-A ${chain} -m comment --comment "${o1.comment}" -s 10.1.0.5/32 -d 10.1.0.0/24 -j RETURN`,
      `-A ${chain} -m comment --comment "${o1.comment}" -s 10.1.0.5/32 ! -d 224.0.0.0/4 -j MASQUERADE`,
      'COMMIT',
      '',
    ].join('\n'),
  )
  t.equal(
    setupIptMasqBatch(6, o1, cidrs, undefined).toRestoreText(),
    [
      '*nat',
      `-A ${chain} -m comment --comment "${o1.comment}" -s fd00::5/128 -d fd00::/64 -j RETURN`,
      `-A ${chain} -m comment --comment "${o1.comment}" -s fd00::5/128 ! -d ff00::/8 -j MASQUERADE`,
      'COMMIT',
      '',
    ].join('\n'),
  )
  t.equal(setupIptMasqBatch(6, o1, ['10.1.0.5/24'], []).length, 0, 'no address of the family: nothing')
})

t.test('setupIptMasqBatch replaces rules left for the same address by another owner', async (t) => {
  const stale = rulesOf(o2, '10.1.0.5/32', '10.1.0.0/24')
  const keep = rulesOf(o2, '10.1.0.6/32', '10.1.0.0/24')
  const ops = setupIptMasqBatch(4, o1, ['10.1.0.5/24'], [...stale, ...keep]).ops
  t.same(
    ops.map((x) => x.op),
    ['-D', '-D', '-A', '-A'],
  )
  t.match(ops[0], { chain, args: stale[0]?.args, comment: o2.comment })
})

t.test('teardownIptMasqBatch deletes exactly the owner rules', async (t) => {
  const rules = [...rulesOf(o1, '10.1.0.5/32', '10.1.0.0/24'), ...rulesOf(o2, '10.1.0.6/32', '10.1.0.0/24')]
  const ops = teardownIptMasqBatch(4, o1, rules).ops
  t.equal(ops.length, 2)
  t.ok(ops.every((x) => x.op === '-D' && 'comment' in x && x.comment === o1.comment))
  t.equal(teardownIptMasqBatch(4, o1, undefined).length, 0, 'no chain: nothing')
  t.equal(teardownIptMasqBatch(4, masqOwner('net1', 'c9', 'eth0'), rules).length, 0, 'unknown owner: nothing')
})

t.test('gcIptMasqBatch deletes rules of owners not in the valid list, keeps uncommented rules', async (t) => {
  const rules = [...rulesOf(o1, '10.1.0.5/32', '10.1.0.0/24'), ...rulesOf(o2, '10.1.0.6/32', '10.1.0.0/24'), { chain, args: ['-j', 'RETURN'] }]
  const ops = gcIptMasqBatch(4, 'net1', [{ containerID: 'c2', ifname: 'eth0' }], rules).ops
  t.equal(ops.length, 2)
  t.ok(ops.every((x) => 'comment' in x && x.comment === o1.comment))
})
