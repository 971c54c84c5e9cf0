import t from 'tap'
import type { NftObject } from '../../../../pkg/firewall/nft.js'
import type { NftJson } from '../../../../pkg/firewall/nft-batch.js'
import { addBatch, declareScript, delBatch, entryElement, gcBatch, hairpinElements, listedEntries, TABLE } from '../../../../plugins/portmap/nft.js'
import { portmapOwner, type Entry } from '../../../../plugins/portmap/plan.js'

const cmds = (b: { toJSON(): { nftables: unknown[] } }) => b.toJSON().nftables as Record<string, Record<string, Record<string, unknown>>>[]
const e = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.0.0.5', containerPort: 80, ...o })
const o1 = portmapOwner('net1', 'c1', 'eth0')
const o2 = portmapOwner('net1', 'c2', 'eth0')

t.test('declareScript: fixed rules, DNAT only to local addresses, guard only when asked', async (t) => {
  const s = declareScript({ guard: false })
  t.match(s, `add table inet ${TABLE}`)
  t.match(s, /add map inet berth_portmap ports4 \{ type ipv4_addr \. inet_proto \. inet_service : ipv4_addr \. inet_service; flags interval; \}/)
  t.match(s, /add map inet berth_portmap ranges6 \{ type ipv6_addr \. inet_proto \. inet_service : ipv6_addr; flags interval; \}/)
  const dnat = s.split('\n').filter((l) => l.includes(' hostports ') && l.includes(' dnat '))
  t.equal(dnat.length, 4, 'ports and ranges, both families')
  t.ok(dnat.every((l) => l.includes('fib daddr type local')), 'every DNAT rule matches local destinations only')
  t.match(s, /flush chain inet berth_portmap hostports\n/)
  t.match(s, /add rule inet berth_portmap prerouting jump hostports/)
  t.match(s, /add rule inet berth_portmap output jump hostports/)
  t.match(s, /postrouting ct status dnat ip saddr \. ip daddr @hairpin4 masquerade/)
  t.notMatch(s, /127\.0\.0\.0\/8 drop/, 'no guard rule without localhost publishing')
  t.notMatch(s, /flush chain inet berth_portmap guard/, 'and the guard chain is not flushed either')
  t.match(declareScript({ guard: true }), /flush chain inet berth_portmap guard\nadd rule inet berth_portmap guard iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop/)
})

t.test('elements: one per port mapping, one per same-port range', async (t) => {
  t.same(entryElement(e({}), 'c'), { map: 'ports4', elem: { key: { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'tcp', 8080] }, value: { concat: ['10.0.0.5', 80] }, comment: 'c' } })
  t.same(entryElement(e({ family: 6, hostIP: 'fd00::1', containerIP: 'fd00::5', protocol: 'udp' }), 'c').elem.key, { concat: ['fd00::1', 'udp', 8080] })
  t.same(entryElement(e({ hostPort: 7000, hostPortEnd: 7010, containerPort: 7000 }), 'c'), {
    map: 'ranges4',
    elem: { key: { concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'tcp', { range: [7000, 7010] }] }, value: '10.0.0.5', comment: 'c' },
  })
  t.same(hairpinElements('10.0.0.5/24', true, 'c').map((h) => h.elem.key), [
    { concat: [{ prefix: { addr: '10.0.0.0', len: 24 } }, '10.0.0.5'] },
    { concat: [{ prefix: { addr: '127.0.0.0', len: 8 } }, '10.0.0.5'] },
  ])
  t.equal(hairpinElements('fd00::5/64', true, 'c').length, 1, 'no localhost for IPv6')
})

// A listing as `nft -j list table` prints it.
function listing(elems: { map: string; key: NftJson; value?: NftJson; comment: string }[]): NftObject[] {
  const names = ['ports4', 'ranges4', 'hairpin4', 'ports6', 'ranges6', 'hairpin6']
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
  const written = [e({}), e({ hostIP: '1.2.3.4', protocol: 'sctp' }), e({ hostPort: 7000, hostPortEnd: 7010, containerPort: 7000 }), e({ family: 6, containerIP: 'fd00::5' })]
  const l = listing(written.map((x) => {
    const { map, elem } = entryElement(x, o1.comment)
    return { map, key: elem.key, value: elem.value ?? null, comment: o1.comment }
  }))
  const back = listedEntries(l).map(({ map: _m, element: _e, ...rest }) => rest)
  t.same(back.sort((a, b) => a.hostPort - b.hostPort || a.family - b.family || (a.hostIP ?? '').localeCompare(b.hostIP ?? '')), written.sort((a, b) => a.hostPort - b.hostPort || a.family - b.family || (a.hostIP ?? '').localeCompare(b.hostIP ?? '')))
})

t.test('addBatch, delBatch and gcBatch touch only what they own', async (t) => {
  const mine = entryElement(e({}), o1.comment)
  const theirs = entryElement(e({ hostPort: 9090 }), o2.comment)
  const other = portmapOwner('net2', 'c9', 'eth0')
  const foreign = entryElement(e({ hostPort: 9191 }), other.comment)
  const l = listing([
    { map: mine.map, key: mine.elem.key, value: mine.elem.value ?? null, comment: o1.comment },
    { map: theirs.map, key: theirs.elem.key, value: theirs.elem.value ?? null, comment: o2.comment },
    { map: foreign.map, key: foreign.elem.key, value: foreign.elem.value ?? null, comment: other.comment },
  ])
  const add = cmds(addBatch(o1, { entries: [e({ hostPort: 8081 })], hairpin: hairpinElements('10.0.0.5/24', false, o1.comment), guard: false }, l))
  t.same(add.map((c) => `${Object.keys(c)[0]} ${String(Object.values(c)[0]?.['element']?.['name'])}`), ['delete ports4', 'add ports4', 'add hairpin4'], "a repeated ADD replaces the owner's old elements")
  t.same((add[0]?.['delete']?.['element']?.['elem'] as unknown[]).length, 1)

  const del = delBatch(o1, l)
  t.same(cmds(del.batch).map((c) => (c['delete']?.['element']?.['elem'] as NftJson[]).length), [1], 'DEL deletes one element')
  t.same(del.removed.map((r) => r.hostPort), [8080])
  t.equal(delBatch(o1, undefined).batch.length, 0, 'no table: nothing to do')

  const gc = cmds(gcBatch(o1.netTag, new Set([o2.tag]), l))
  t.equal(gc.length, 1)
  t.same((gc[0]?.['delete']?.['element']?.['elem'] as { concat: NftJson[] }[]).map((k) => k.concat[2]), [8080], "GC removes c1's element, keeps c2's and the other network's")
})
