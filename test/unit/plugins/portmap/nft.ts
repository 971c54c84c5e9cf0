import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import type { NftJson } from '../../../../pkg/firewall/nft-batch.js'
import { addBatch, HAIRPIN_COMMENT, declareScript, markerScript, delBatch, deleteKeysBatch, entryElement, gcBatch, hairpinElements, listedEntries, purgeBatch, TABLE } from '../../../../plugins/portmap/nft.js'
import { portmapOwner, type Entry } from '../../../../plugins/portmap/plan.js'

const cmds = (b: { toJSON(): { nftables: unknown[] } }) => b.toJSON().nftables as Record<string, Record<string, Record<string, unknown>>>[]
const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.0.0.5', containerPort: 80, ...o })
const o1 = portmapOwner('net1', 'c1', 'eth0')
const o2 = portmapOwner('net1', 'c2', 'eth0')

t.test('declareScript: hash maps for single ports, DNAT only to local addresses, a layout marker', async (t) => {
  const s = declareScript()
  t.match(s, `add table inet ${TABLE}`)
  t.match(s, /add map inet berth_portmap any4 \{ type inet_proto \. inet_service : ipv4_addr \. inet_service; \}/, 'every-address ports: hash map, no interval')
  t.match(s, /add map inet berth_portmap host6 \{ type ipv6_addr \. inet_proto \. inet_service : ipv6_addr \. inet_service; \}/, 'hostIP ports: hash map')
  t.match(s, /add map inet berth_portmap ranges6 \{ type ipv6_addr \. inet_proto \. inet_service : ipv6_addr; flags interval; \}/)
  t.notMatch(s, /ports4/, 'no first-layout maps in a new table')
  const dnat = s.split('\n').filter((l) => l.includes(' hostports_2 ') && l.includes(' dnat '))
  t.equal(dnat.length, 6, 'any, host and ranges, both families')
  t.ok(dnat.every((l) => l.includes('fib daddr type local')), 'every DNAT rule matches local destinations only')
  t.match(s, /hostports_2 meta nfproto ipv4 .* dnat ip to meta l4proto \. th dport map @any4/)
  t.match(s, /flush chain inet berth_portmap hostports_2\n/)
  t.match(s, /add rule inet berth_portmap prerouting_2 jump hostports_2/)
  t.match(s, /add rule inet berth_portmap output_2 jump hostports_2/)
  t.match(s, /postrouting_2 ct status dnat ip saddr \. ip daddr @hairpin4 masquerade/)
  t.notMatch(s, /(chain|rule) inet berth_portmap (hostports|prerouting|output|postrouting)\b(?!_)/, "the first layout's chains are never touched")
  t.match(s, /add map inet berth_portmap shift4 \{ type ipv4_addr \. inet_proto \. inet_service : interval ipv4_addr \. inet_service; flags interval; \}/, 'shifted ranges: address and port window')
  t.match(s, /add rule inet berth_portmap hostports_2 jump shifted_3\n/, 'the hand-built offset rules are jumped to')
  t.notMatch(s, /flush chain inet berth_portmap shifted_3/, 'their chain is refilled by offset-nat.ts, not flushed here')
  t.notMatch(s, /layout_/, 'the marker comes last, from offset-nat.ts')
  t.equal(markerScript('abc123'), 'add chain inet berth_portmap layout_3_abc123\n', 'the marker names the generation')
  t.notMatch(s, /127\.0\.0\.0\/8 drop/, 'the guard is added by the ADD that needs it, not here')
  const guard = cmds(addBatch([], true))
  t.same(guard.map((c) => Object.keys(c)[0] + ' ' + Object.keys(Object.values(c)[0] ?? {})[0]), ['add chain', 'flush chain', 'add rule'], 'guard: marker chain, flush, rule')
})

t.test('elements: hash maps for one port, one interval element per same-port range', async (t) => {
  t.same(entryElement(e({}), 'c'), { set: 'any4', elem: { key: { concat: ['tcp', 8080] }, value: { concat: ['10.0.0.5', 80] }, comment: 'c' } })
  t.same(entryElement(e({ family: 6, hostIP: 'fd00::1', containerIP: 'fd00::5', protocol: 'udp' }), 'c'), {
    set: 'host6',
    elem: { key: { concat: ['fd00::1', 'udp', 8080] }, value: { concat: ['fd00::5', 80] }, comment: 'c' },
  })
  t.same(entryElement(e({ hostPort: 7000, hostPortEnd: 7010, containerPort: 7000 }), 'c'), {
    set: 'ranges4',
    elem: { key: { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'tcp', { range: [7000, 7010] }] }, value: '10.0.0.5', comment: 'c' },
  })
  t.same(entryElement(e({ hostIP: '1.2.3.4', hostPort: 8000, hostPortEnd: 8010, containerPort: 80 }), 'c'), {
    set: 'shift4',
    elem: { key: { concat: ['1.2.3.4', 'tcp', { range: [8000, 8010] }] }, value: { concat: ['10.0.0.5', { range: [80, 95] }] }, comment: 'c' },
  }, 'a shifted range: one element, data the address and the port window')
  t.throws(() => entryElement(e({ hostPort: 220, hostPortEnd: 1219, containerPort: 49 }), 'c'), /cannot be one element/, 'a range without window must be split first')
  t.throws(() => entryElement(e({ family: 6, containerIP: 'fd00::5', hostPort: 8000, hostPortEnd: 8010, containerPort: 80 }), 'c'), /cannot be one element/, 'so must an IPv6 one')
  const net = { prefix: { addr: '10.0.0.0', len: 24 } }
  t.same(hairpinElements('10.0.0.5/24', true), [
    { name: '4-10.0.0.0_24-10.0.0.0_24', set: 'hairpin4', elem: { key: { concat: [net, net] }, comment: HAIRPIN_COMMENT } },
    { name: '4-127.0.0.0_8-10.0.0.0_24', set: 'hairpin4', elem: { key: { concat: [{ prefix: { addr: '127.0.0.0', len: 8 } }, net] }, comment: HAIRPIN_COMMENT } },
  ], 'one element per subnet (shared), not per container')
  t.same(hairpinElements('10.0.0.9/24', true).map((h) => h.name), hairpinElements('10.0.0.5/24', true).map((h) => h.name), 'the same for another container of the subnet')
  t.same(hairpinElements('fd00::5/64', true).map((h) => h.name), ['6-fd00::_64-fd00::_64'], 'no localhost for IPv6')
})

// A listing as `nft -j list table` prints it.
function listing(elems: { map: string; key: NftJson; value?: NftJson; comment: string }[]): NftObject[] {
  const names = ['any4', 'host4', 'ranges4', 'shift4', 'ports4', 'hairpin4', 'any6', 'host6', 'ranges6', 'shift6', 'ports6', 'hairpin6']
  return names.map((name) => {
    const mine = elems.filter((x) => x.map === name)
    const isSet = name.startsWith('hairpin')
    const body: Record<string, NftJson> = { family: 'inet', table: TABLE, name, type: 'x' }
    if (!isSet) body['map'] = 'ipv4_addr'
    if (mine.length > 0) body['elem'] = mine.map((x) => (isSet ? { elem: { val: x.key, comment: x.comment } } : [{ elem: { val: x.key, comment: x.comment } }, x.value ?? null]))
    return { [isSet ? 'set' : 'map']: body }
  })
}

t.test('listedEntries reads back what entryElement writes', async (t) => {
  const written = [
    e({}),
    e({ hostIP: '1.2.3.4', protocol: 'sctp' }),
    e({ hostPort: 7000, hostPortEnd: 7010, containerPort: 7000 }),
    e({ family: 6, containerIP: 'fd00::5' }),
    e({ hostPort: 8000, hostPortEnd: 8010, containerPort: 80 }),
    e({ hostIP: '1.2.3.6', protocol: 'udp', hostPort: 7919, hostPortEnd: 7929, containerPort: 80 }),
  ]
  const l = listing([...written.map((x) => {
    const { set, elem } = entryElement(x, o1.comment)
    return { map: set, key: elem.key, value: elem.value ?? null, comment: o1.comment }
  }), { map: 'ports4', key: { concat: ['1.2.3.5', 'tcp', 9000] }, value: { concat: ['10.0.0.5', 90] }, comment: o1.comment }])
  written.push(e({ hostIP: '1.2.3.5', hostPort: 9000, hostPortEnd: 9000, containerPort: 90 }))
  const back = listedEntries(l).map(({ map: _m, element: _e, ...rest }) => rest)
  t.same(back.sort((a, b) => a.hostPort - b.hostPort || a.family - b.family || (a.hostIP ?? '').localeCompare(b.hostIP ?? '')), written.sort((a, b) => a.hostPort - b.hostPort || a.family - b.family || (a.hostIP ?? '').localeCompare(b.hostIP ?? '')))
})

t.test('addBatch, deleteKeysBatch, purgeBatch and gcBatch touch only what they own', async (t) => {
  const mine = entryElement(e({}), o1.comment)
  const theirs = entryElement(e({ hostPort: 9090 }), o2.comment)
  const other = portmapOwner('net2', 'c9', 'eth0')
  const foreign = entryElement(e({ hostPort: 9191 }), other.comment)
  const l = listing([mine, theirs, foreign].map((x) => ({ map: x.set, key: x.elem.key, value: x.elem.value ?? null, comment: x.elem.comment ?? '' })))
  const hp = hairpinElements('10.0.0.5/24', false)
  const add = cmds(addBatch([entryElement(e({ hostPort: 8081 }), o1.comment), ...hp], false))
  t.same(add.map((c) => `${Object.keys(c)[0]} ${String(Object.values(c)[0]?.['element']?.['name'])}`), ['add any4', 'add hairpin4'], 'ADD only adds: no listing, no delete')
  const byKey = cmds(deleteKeysBatch([mine, ...hp]))
  t.same(byKey.map((c) => `${String(c['delete']?.['element']?.['name'])} ${JSON.stringify(c['delete']?.['element']?.['elem'])}`), [
    'any4 [{"concat":["tcp",8080]}]',
    'hairpin4 [{"concat":[{"prefix":{"addr":"10.0.0.0","len":24}},{"prefix":{"addr":"10.0.0.0","len":24}}]}]',
  ], 'DEL by record: exactly the recorded keys')

  const del = delBatch(o1, l)
  t.same(cmds(del.batch).map((c) => (c['delete']?.['element']?.['elem'] as NftJson[]).length), [1], 'DEL by listing deletes one element')
  t.same(del.removed.map((r) => r.hostPort), [8080])
  t.equal(delBatch(o1, undefined).batch.length, 0, 'no table: nothing to do')
  t.equal(cmds(purgeBatch(o2.tag, l).batch).length, 1, "purge by tag finds c2's element")

  const gc = cmds(gcBatch(o1.netTag, new Set([o2.tag]), l))
  t.equal(gc.length, 1)
  t.same((gc[0]?.['delete']?.['element']?.['elem'] as { concat: NftJson[] }[]).map((k) => k.concat[1]), [8080], "GC removes c1's element, keeps c2's and the other network's")
})
