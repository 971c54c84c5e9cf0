// iptables-restore inside throw-away namespaces; the host firewall is only ever read (iptables-save).
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { iptablesListChain, iptablesRestore, iptablesSave, iptablesTools } from '../../../../pkg/firewall/iptables.js'
import { IptablesBatch } from '../../../../pkg/firewall/iptables-format.js'
import { NetnsHandle } from '../../../../pkg/ns/netns.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { needsRoot } from '../../../helpers/privileges.js'

type T = { teardown(fn: () => unknown): void }

function skipReason(): false | string {
  const root = needsRoot()
  if (root) return root
  const v4 = iptablesTools(4)
  const v6 = iptablesTools(6)
  return v4.restore && v4.save && v6.restore && v6.save ? false : 'iptables-restore/-save (and ip6tables) not installed'
}

async function netns(t: T): Promise<{ ns: TestNetns; h: NetnsHandle }> {
  const ns = await createTestNetns(t)
  const h = NetnsHandle.open(ns.path)
  t.teardown(() => h.close())
  return { ns, h }
}

const chainName = () => `BT-${Math.random().toString(16).slice(2, 10).toUpperCase()}`

t.test('iptables in a namespace', { skip: skipReason() }, async (t) => {
  t.test('rules land in the namespace, not in the host or a sibling', async (t) => {
    const { ns, h } = await netns(t)
    const sibling = await netns(t)
    const chain = chainName()
    const b = new IptablesBatch(4)
      .declareChain('nat', chain)
      .append('nat', chain, ['-d', '10.88.0.0/16', '-j', 'ACCEPT'], 'name: net1 id: c1')
      .append('nat', chain, ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'], 'name: net1 id: c1')
      .append('nat', 'POSTROUTING', ['-s', '10.88.0.2', '-j', chain], 'name: net1 id: c1')
    await iptablesRestore(h, b)

    const saved = ns.exec('iptables-save', ['-t', 'nat'])
    t.match(saved, `:${chain} - [0:0]`)
    t.match(saved, `-A ${chain} -d 10.88.0.0/16 -m comment --comment "name: net1 id: c1" -j ACCEPT`)
    t.match(saved, `-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: net1 id: c1" -j ${chain}`)
    t.same(await iptablesListChain(h, 4, 'nat', chain), [
      { chain, args: ['-d', '10.88.0.0/16', '-j', 'ACCEPT'], comment: 'name: net1 id: c1' },
      { chain, args: ['!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'], comment: 'name: net1 id: c1' },
    ])
    t.notMatch(sibling.ns.exec('iptables-save', []), chain, 'not in a sibling namespace')
    t.notMatch(execFileSync('iptables-save', [], { encoding: 'utf8', timeout: 20000 }), chain, 'not in the host (read-only check)')
    t.equal(await iptablesListChain(sibling.h, 4, 'nat', chain), undefined)

    // Rules read back can be deleted with the same spec and comment.
    const rules = (await iptablesListChain(h, 4, 'nat', chain))!
    const del = new IptablesBatch(4)
    for (const r of rules) del.delete('nat', r.chain, r.args, r.comment)
    del.delete('nat', 'POSTROUTING', ['-s', '10.88.0.2/32', '-j', chain], 'name: net1 id: c1').deleteChain('nat', chain)
    await iptablesRestore(h, del)
    t.equal(await iptablesListChain(h, 4, 'nat', chain), undefined, 'chain and rules removed')
    t.notMatch(ns.exec('iptables-save', []), chain)
  })

  t.test('declaring an existing chain with --noflush flushes it; other chains are untouched', async (t) => {
    const { h } = await netns(t)
    const a = chainName()
    const b = chainName()
    await iptablesRestore(h, new IptablesBatch(4).declareChain('filter', a).declareChain('filter', b).append('filter', a, ['-j', 'RETURN']).append('filter', b, ['-j', 'RETURN']))
    await iptablesRestore(h, new IptablesBatch(4).declareChain('filter', a).append('filter', a, ['-j', 'ACCEPT']))
    t.same(await iptablesListChain(h, 4, 'filter', a), [{ chain: a, args: ['-j', 'ACCEPT'] }])
    t.same(await iptablesListChain(h, 4, 'filter', b), [{ chain: b, args: ['-j', 'RETURN'] }], 'not named, not flushed')
  })

  t.test('a failing line applies nothing of its table and reports stderr', async (t) => {
    const { ns, h } = await netns(t)
    const chain = chainName()
    const b = new IptablesBatch(4).declareChain('filter', chain).append('filter', chain, ['-j', 'ACCEPT']).append('filter', 'BT-MISSING', ['-j', 'ACCEPT'])
    const err = await iptablesRestore(h, b).then(() => undefined, (e: unknown) => e)
    t.match(err, { name: 'CniError', code: CniCode.FirewallFailed, message: /^failed to apply iptables rules: .*line 4 failed/ })
    t.match((err as { details: string }).details, /No chain\/target\/match by that name[\s\S]*input:\n\*filter\n/)
    t.notMatch(ns.exec('iptables-save', []), chain, 'the chain declared earlier in the block is not there')
  })

  t.test('ip6tables', async (t) => {
    const { ns, h } = await netns(t)
    const chain = chainName()
    await iptablesRestore(h, new IptablesBatch(6).declareChain('filter', chain).append('filter', chain, ['-s', 'fd00::/64', '-j', 'ACCEPT'], 'v6 tag'))
    t.match(ns.exec('ip6tables-save', ['-t', 'filter']), `-A ${chain} -s fd00::/64 -m comment --comment "v6 tag" -j ACCEPT`)
    t.same(await iptablesListChain(h, 6, 'filter', chain), [{ chain, args: ['-s', 'fd00::/64', '-j', 'ACCEPT'], comment: 'v6 tag' }])
    t.equal(await iptablesListChain(h, 4, 'filter', chain), undefined, 'not in the IPv4 tables')
    const tables = await iptablesSave(h, 6)
    t.ok(tables.some((x) => x.table === 'filter' && x.chains.has(chain)))
  })
})
