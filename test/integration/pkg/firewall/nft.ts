// nftables through libnftables inside throw-away namespaces: transactions, comments, atomicity.
// Every table lives in a namespace that dies with the test; the host ruleset is only ever read.
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { nftApply, nftApplyScript, nftList, nftListElements, nftTableExists } from '../../../../pkg/firewall/nft.js'
import { NftBatch, type NftElement } from '../../../../pkg/firewall/nft-batch.js'
import { NetnsHandle } from '../../../../pkg/ns/netns.js'
import { uniqueName } from '../../../helpers/names.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { needsRoot } from '../../../helpers/privileges.js'

type T = { teardown(fn: () => unknown): void }

async function netns(t: T): Promise<{ ns: TestNetns; h: NetnsHandle }> {
  const ns = await createTestNetns(t)
  const h = NetnsHandle.open(ns.path)
  t.teardown(() => h.close())
  return { ns, h }
}

/** `nft -j list ruleset` run by the nft binary inside the namespace: an independent reading. */
function ruleset(ns: TestNetns): Record<string, Record<string, unknown>>[] {
  return (JSON.parse(ns.exec('nft', ['-j', 'list', 'ruleset'])) as { nftables: Record<string, Record<string, unknown>>[] }).nftables.filter((o) => !('metainfo' in o))
}

function setElems(ns: TestNetns, table: string, name: string): unknown {
  const o = ruleset(ns).map((x) => x['set'] ?? x['map']).find((s) => s?.['table'] === table && s?.['name'] === name)
  return o?.['elem']
}

function base(table: string): NftBatch {
  return new NftBatch()
    .addTable('inet', table)
    .addChain({ family: 'inet', table, name: 'fwd' })
    .addSet({ family: 'inet', table, name: 'addrs', type: 'ipv4_addr' })
    .addMap({ family: 'inet', table, name: 'ports', type: ['ipv4_addr', 'inet_service'], map: 'verdict' })
    .addMap({ family: 'inet', table, name: 'dnat', type: 'inet_service', map: 'ipv4_addr' })
}

t.test('nftables in a namespace', { skip: needsRoot() }, async (t) => {
  t.test('table, set and maps with commented elements, listed back', async (t) => {
    const { ns, h } = await netns(t)
    const table = uniqueName('nft').replace(/^bt/, 'bt_')
    const a: NftElement = { key: '10.88.0.2', comment: 'net: n1, if: eth0, id: c1' }
    const b: NftElement = { key: '10.88.0.3', comment: 'net: n1, if: eth0, id: c2' }
    const p: NftElement = { key: { concat: ['10.88.0.2', 8080] }, value: { jump: { target: 'fwd' } }, comment: 'id: c1' }
    const d: NftElement = { key: 80, value: '10.88.0.2', comment: 'id: c1' }
    nftApply(h, base(table).addElements('inet', table, 'addrs', [a, b]).addElements('inet', table, 'ports', [p]).addElements('inet', table, 'dnat', [d]))

    t.same(nftListElements(h, 'inet', table, 'addrs'), [a, b])
    t.same(nftListElements(h, 'inet', table, 'ports'), [p])
    t.same(nftListElements(h, 'inet', table, 'dnat'), [d])
    t.same(setElems(ns, table, 'addrs'), [{ elem: { val: '10.88.0.2', comment: a.comment } }, { elem: { val: '10.88.0.3', comment: b.comment } }], 'nft -j list ruleset agrees')
    t.same(setElems(ns, table, 'ports'), [[{ elem: { val: { concat: ['10.88.0.2', 8080] }, comment: 'id: c1' } }, { jump: { target: 'fwd' } }]])
    t.ok(nftTableExists(h, 'inet', table))
    t.notOk(nftTableExists(undefined, 'inet', table), 'not in the host namespace (read-only check)')
    t.equal(nftList(h, 'ip', table), undefined, 'other family')

    // Remove one element and add another in the same transaction.
    const c: NftElement = { key: '10.88.0.4', comment: 'net: n1, if: eth0, id: c3' }
    nftApply(h, new NftBatch().deleteElements('inet', table, 'addrs', [a]).addElements('inet', table, 'addrs', [c]).deleteElements('inet', table, 'ports', [p]))
    t.same(nftListElements(h, 'inet', table, 'addrs'), [b, c])
    t.same(nftListElements(h, 'inet', table, 'ports'), [])
    t.same(setElems(ns, table, 'addrs'), [{ elem: { val: '10.88.0.3', comment: b.comment } }, { elem: { val: '10.88.0.4', comment: c.comment } }])
  })

  t.test('a failing last command applies none of the earlier ones', async (t) => {
    const { ns, h } = await netns(t)
    const table = 'bt_atomic'
    // Evaluated by the kernel: the element does not exist (ENOENT) after a new table and set were queued.
    const batch = base(table)
      .addElements('inet', table, 'addrs', [{ key: '10.1.1.1', comment: 'x' }])
      .deleteElements('inet', table, 'dnat', [443])
    t.throws(() => nftApply(h, batch), { name: 'CniError', code: CniCode.FirewallFailed, message: /^failed to apply nftables transaction: / })
    t.same(ruleset(ns), [], 'the namespace ruleset is still empty')
    t.equal(nftList(h, 'inet', table), undefined)

    // Same with an existing table: a conflicting map element (EEXIST) at the end undoes the earlier adds.
    nftApply(h, base(table).addElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.1' }]))
    const err = (() => {
      try {
        nftApply(
          h,
          new NftBatch()
            .addElements('inet', table, 'addrs', [{ key: '10.2.2.2', comment: 'should vanish' }])
            .addChain({ family: 'inet', table, name: 'extra' })
            .addElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.9' }]),
        )
      } catch (e) {
        return e
      }
      return undefined
    })()
    t.match(err, { code: CniCode.FirewallFailed, message: 'failed to apply nftables transaction: Could not process rule: File exists' })
    t.match((err as { details?: string }).details, /File exists/, 'libnftables text in details')
    t.same(nftListElements(h, 'inet', table, 'addrs'), [], 'no element from the failed batch')
    t.notOk(ruleset(ns).some((o) => o['chain']?.['name'] === 'extra'), 'no chain from the failed batch')
    t.same(nftListElements(h, 'inet', table, 'dnat'), [{ key: 80, value: '10.0.0.1' }], 'the old mapping is intact')
  })

  t.test('changing a map value: delete and add in one transaction', async (t) => {
    const { h } = await netns(t)
    const table = 'bt_remap'
    nftApply(h, base(table).addElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.1', comment: 'old' }]))
    nftApply(h, new NftBatch().deleteElements('inet', table, 'dnat', [80]).addElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.2', comment: 'new' }]))
    t.same(nftListElements(h, 'inet', table, 'dnat'), [{ key: 80, value: '10.0.0.2', comment: 'new' }])
    // Re-adding an existing key with the same value is a no-op that keeps the first comment.
    nftApply(h, new NftBatch().addElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.2', comment: 'newer' }]))
    t.same(nftListElements(h, 'inet', table, 'dnat'), [{ key: 80, value: '10.0.0.2', comment: 'new' }])
    t.throws(() => nftApply(h, new NftBatch().createElements('inet', table, 'dnat', [{ key: 80, value: '10.0.0.2' }])), { code: CniCode.FirewallFailed }, 'create refuses an existing key')
  })

  t.test('rules with comments, and deleteTableIfExists', async (t) => {
    const { ns, h } = await netns(t)
    const table = 'bt_rules'
    nftApply(
      h,
      base(table)
        .addChain({ family: 'inet', table, name: 'post', type: 'nat', hook: 'postrouting', prio: 100 })
        .addRule({
          family: 'inet',
          table,
          chain: 'post',
          expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@addrs' } }, { masquerade: null }],
          comment: 'id: c1',
        }),
    )
    const rules = ruleset(ns).filter((o) => o['rule'] !== undefined).map((o) => o['rule']!)
    t.equal(rules.length, 1)
    t.equal(rules[0]?.['comment'], 'id: c1')
    nftApply(h, new NftBatch().deleteTableIfExists('inet', table))
    t.same(ruleset(ns), [], 'gone')
    nftApply(h, new NftBatch().deleteTableIfExists('inet', table))
    t.pass('deleting a missing table that way succeeds')
    t.throws(() => nftApply(h, new NftBatch().deleteTable('inet', table)), { code: CniCode.FirewallFailed, message: /No such file or directory/ }, 'plain delete of a missing table fails')
  })

  t.test('nft script text goes through the same path', async (t) => {
    const { ns, h } = await netns(t)
    nftApplyScript(h, 'add table ip bt_script\nadd set ip bt_script s { type ipv4_addr; }\nadd element ip bt_script s { 10.0.0.1 comment "tag" }\n')
    t.same(nftListElements(h, 'ip', 'bt_script', 's'), [{ key: '10.0.0.1', comment: 'tag' }])
    t.throws(() => nftApplyScript(h, 'add table ip bt_script2\nadd bogus\n'), { code: CniCode.FirewallFailed, message: /^failed to apply nftables transaction: syntax error/ })
    t.notOk(ruleset(ns).some((o) => o['table']?.['name'] === 'bt_script2'), 'a syntax error applies nothing')
  })

  t.test('two namespaces do not see each other', async (t) => {
    const one = await netns(t)
    const two = await netns(t)
    nftApply(one.h, new NftBatch().addTable('inet', 'bt_one'))
    t.ok(nftTableExists(one.h, 'inet', 'bt_one'))
    t.notOk(nftTableExists(two.h, 'inet', 'bt_one'))
    t.same(ruleset(two.ns), [])
  })
})
