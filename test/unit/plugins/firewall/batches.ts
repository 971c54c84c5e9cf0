import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import { parseIptablesSave } from '../../../../pkg/firewall/iptables-format.js'
import { checkListing, declareBatch, FORWARD_PRIO, FW_TABLE, gcBatch, setupBatch, teardownBatch } from '../../../../plugins/firewall/nft.js'
import { checkIpt, gcIptBatch, hookBatch, setupIptBatch, teardownIptBatch } from '../../../../plugins/firewall/iptables.js'
import { ownerOf } from '../../../../plugins/firewall/owner.js'

type Cmd = Record<string, Record<string, Record<string, unknown>>>
const cmds = (b: { toJSON(): { nftables: unknown[] } }) => b.toJSON().nftables as Cmd[]
const verb = (c: Cmd) => `${Object.keys(c)[0]} ${Object.keys(Object.values(c)[0] ?? {})[0]}`
const body = (c: Cmd) => Object.values(Object.values(c)[0] ?? {})[0] ?? {}
const MARK = 0x1000000
const o1 = ownerOf('net1', 'c1', 'eth0')
const o2 = ownerOf('net1', 'c2', 'eth0')
const other = ownerOf('net2', 'c9', 'eth0')
const addrs = [{ family: 4 as const, ip: '10.0.0.5' }, { family: 6 as const, ip: 'fd00::5' }]

t.test('declareBatch: own table, base chain before iptables filter, fixed rules only', async (t) => {
  const c = cmds(declareBatch(MARK))
  t.same(body(c[0]!), { family: 'inet', name: FW_TABLE })
  const hook = c.find((x) => verb(x) === 'add chain' && body(x)['hook'] === 'forward')
  t.match(body(hook!), { type: 'filter', hook: 'forward', prio: FORWARD_PRIO, policy: 'accept' })
  t.ok(FORWARD_PRIO < 0, 'runs before the iptables filter table (priority 0)')
  t.ok(c.some((x) => verb(x) === 'flush chain' && body(x)['name'] === 'forward'), 'fixed chain rewritten, never appended to')
  t.notOk(c.some((x) => verb(x) === 'flush chain' && body(x)['name'] === 'admin'), 'admin chain never flushed')
  const rules = c.filter((x) => verb(x) === 'add rule')
  t.equal(rules.length, 1 + 1 + 4, 'jump admin, isolation, two per family')
  const text = JSON.stringify(rules)
  t.equal((text.match(/"mangle"/g) ?? []).length, 4, 'every accept sets the mark first')
  t.match(text, /"\|":\[\{"meta":\{"key":"mark"\}\},16777216\]/, 'mark is OR-ed in, other bits kept')
  t.match(text, /"established","related"/)
})

t.test('setupBatch: elements with the owner comment; stale owners replaced; bridge isolation', async (t) => {
  const c = cmds(setupBatch(o1, MARK, addrs, undefined, undefined))
  const els = c.filter((x) => verb(x) === 'add element')
  t.same(els.map((x) => body(x)['name']), ['ctr4', 'ctr6'])
  t.same(body(els[0]!)['elem'], [{ elem: { val: '10.0.0.5', comment: o1.comment } }])
  t.notOk(c.some((x) => verb(x) === 'delete element'))
  t.notOk(c.some((x) => verb(x) === 'add element' && body(x)['name'] === 'isolated'), 'no isolation under open')

  const listing: NftObject[] = [{ set: { family: 'inet', table: FW_TABLE, name: 'ctr4', elem: [{ elem: { val: '10.0.0.5', comment: o2.comment } }] } }]
  const c2 = cmds(setupBatch(o1, MARK, addrs, 'cni0', listing))
  const del = c2.find((x) => verb(x) === 'delete element')
  t.same(body(del!)['elem'], ['10.0.0.5'], "the leftover's element is deleted first")
  t.ok(c2.indexOf(del!) < c2.findIndex((x) => verb(x) === 'add element'))
  t.same(body(c2.find((x) => verb(x) === 'add element' && body(x)['name'] === 'same')!)['elem'], [{ concat: ['cni0', 'cni0'] }])
})

const listing: NftObject[] = [
  { chain: { family: 'inet', table: FW_TABLE, name: 'forward', hook: 'forward' } },
  { rule: { family: 'inet', table: FW_TABLE, chain: 'forward', expr: [] } },
  {
    set: {
      family: 'inet',
      table: FW_TABLE,
      name: 'ctr4',
      elem: [{ elem: { val: '10.0.0.5', comment: o1.comment } }, { elem: { val: '10.0.0.6', comment: o2.comment } }, { elem: { val: '10.9.0.1', comment: other.comment } }, '10.7.7.7'],
    },
  },
  { set: { family: 'inet', table: FW_TABLE, name: 'ctr6', elem: [{ elem: { val: 'fd00::5', comment: o1.comment } }] } },
]

t.test('teardownBatch deletes exactly the owner elements; nothing without a table', async (t) => {
  const c = cmds(teardownBatch(o1, listing))
  t.same(c.map(verb), ['delete element', 'delete element'])
  t.same(c.map((x) => body(x)['elem']), [['10.0.0.5'], ['fd00::5']])
  t.equal(teardownBatch(o1, undefined).length, 0)
  t.equal(teardownBatch(ownerOf('net1', 'nobody', 'eth0'), listing).length, 0)
})

t.test('gcBatch deletes this network\'s elements not kept; other networks and foreign elements stay', async (t) => {
  const c = cmds(gcBatch(o1.netTag, new Set([o2.tag]), listing))
  t.same(c.map((x) => [body(x)['name'], body(x)['elem']]), [['ctr4', ['10.0.0.5']], ['ctr6', ['fd00::5']]])
  t.equal(gcBatch(o1.netTag, new Set([o1.tag, o2.tag]), listing).length, 0)
})

t.test('checkListing', async (t) => {
  t.same(checkListing(o1, addrs, undefined, listing), [])
  t.match(checkListing(o2, addrs, undefined, listing), [/10\.0\.0\.5 in set ctr4 belongs to/, /fd00::5 in set ctr6 belongs to/])
  t.match(checkListing(o1, addrs, 'cni0', listing), [/bridge cni0 is not in set isolated/])
  t.match(checkListing(o1, addrs, undefined, undefined), [/missing/])
})

const SAVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:CNI-FORWARD - [0:0]
:CNI-ADMIN - [0:0]
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN
-A CNI-FORWARD -m comment --comment "${o1.comment}" -d 10.0.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A CNI-FORWARD -m comment --comment "${o1.comment}" -s 10.0.0.5/32 -j ACCEPT
-A CNI-FORWARD -m comment --comment "${other.comment}" -s 10.9.0.1/32 -j ACCEPT
COMMIT
`
const tbl = parseIptablesSave(SAVE)[0]

t.test('hookBatch: one mark rule at the head of FORWARD, only where a FORWARD chain exists', async (t) => {
  t.equal(hookBatch(4, MARK, undefined).toRestoreText(), '', 'no filter table: berth does not create one')
  const text = hookBatch(4, MARK, tbl).toRestoreText()
  t.match(text, /^\*filter\n-I FORWARD -m comment --comment "berth firewall: [^"]*" -m mark --mark 0x1000000\/0x1000000 -j ACCEPT\nCOMMIT\n$/)
  const withHook = parseIptablesSave(SAVE.replace('COMMIT', `-A FORWARD -m comment --comment "berth firewall: accept what table inet berth_firewall let through" -m mark --mark 0x1000000/0x1000000 -j ACCEPT\nCOMMIT`))[0]
  t.equal(hookBatch(4, MARK, withHook).toRestoreText(), '', 'already there: nothing to do')
  t.match(hookBatch(4, 0x400000, withHook).toRestoreText(), /-D FORWARD .*0x1000000.*\n-I FORWARD .*0x400000\/0x400000/, 'another mark is replaced')
})

t.test('iptables backend: setup adds what is missing, teardown and GC by owner, check', async (t) => {
  t.equal(setupIptBatch(4, o1, 'CNI-ADMIN', ['10.0.0.5'], undefined, tbl).toRestoreText(), '', 'everything present: idempotent')
  const fresh = setupIptBatch(4, o2, 'CNI-ADMIN', ['10.0.0.6'], undefined, undefined).toRestoreText()
  t.match(fresh, /:CNI-FORWARD - \[0:0\]\n:CNI-ADMIN - \[0:0\]/)
  t.match(fresh, /-I FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD/)
  t.match(fresh, /-A CNI-FORWARD -m comment --comment "[0-9a-f]{16} [^"]*" -d 10\.0\.0\.6\/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT/)
  t.match(fresh, /-A CNI-FORWARD -m comment --comment "[^"]*" -s 10\.0\.0\.6\/32 -j ACCEPT/)
  const existing = setupIptBatch(4, o2, 'CNI-ADMIN', ['10.0.0.6'], undefined, tbl).toRestoreText()
  t.notMatch(existing, /:CNI-FORWARD/, 'an existing chain is never re-declared (that would flush it)')
  const iso = setupIptBatch(4, o2, 'CNI-ADMIN', [], 'cni0', tbl).toRestoreText()
  t.match(iso, /-I CNI-ISOLATION-STAGE-1 .*-i cni0 ! -o cni0 -j CNI-ISOLATION-STAGE-2/)
  t.match(iso, /-I CNI-ISOLATION-STAGE-2 .*-o cni0 -j DROP/)
  t.match(iso, /-I FORWARD .*-j CNI-ISOLATION-STAGE-1/)

  const down = teardownIptBatch(4, o1, tbl).toRestoreText()
  t.equal(down.split('\n').filter((l) => l.startsWith('-D CNI-FORWARD')).length, 2)
  t.notMatch(down, /10\.9\.0\.1/)
  const gc = gcIptBatch(4, o1.netTag, new Set(), tbl).toRestoreText()
  t.equal(gc.split('\n').filter((l) => l.startsWith('-D')).length, 2, "GC: this network's two rules")
  t.equal(gcIptBatch(4, o1.netTag, new Set([o1.tag]), tbl).toRestoreText(), '')

  t.same(checkIpt(4, o1, 'CNI-ADMIN', ['10.0.0.5'], undefined, tbl), [])
  t.equal(checkIpt(4, o2, 'CNI-ADMIN', ['10.0.0.5'], undefined, tbl).length, 2)
  t.match(checkIpt(4, o1, 'CNI-ADMIN', ['10.0.0.5'], 'cni0', tbl), [/STAGE-2 lacks the rule for bridge cni0/])
})
