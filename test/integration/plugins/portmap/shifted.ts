// Shifted port ranges (Docker's 8000-8010:80-90) with the nftables backend: one map element per IPv4 range,
// DNATed by the hand-built offset rule (plugins/portmap/offset-nat.ts), with real TCP and UDP; the
// fallback to one element per port when the kernel refuses the rule; the in-place upgrade of a layout-2
// table (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN_DIR } from '../../../helpers/paths.js'
import { ok, rig, serve, skip, talk, type Rig } from '../../../helpers/portmap-rig.js'
import { runPlugin } from '../../../helpers/run-plugin.js'

const range = (host: number, container: number, n: number, protocol: string, hostIP?: string) =>
  Array.from({ length: n }, (_, i) => ({ hostPort: host + i, containerPort: container + i, protocol, ...(hostIP === undefined ? {} : { hostIP }) }))
const PORTS = Array.from({ length: 11 }, (_, i) => 80 + i)
const chains = (rg: Rig) => rg.host.exec('nft', ['list', 'chains', 'inet']).match(/chain \S+/g)?.map((c) => c.slice(6)) ?? []

t.test('a shifted range is one element: TCP and UDP, IPv4 and IPv6, from outside and from the host; CHECK, conflicts, DEL', { skip }, async (t) => {
  const rg = await rig(t)
  const mappings = [...range(8000, 80, 11, 'tcp'), ...range(8000, 80, 11, 'udp')]
  const c1 = await rg.container('c1', mappings)
  ok(t, c1.add, 'ADD 8000-8010:80-90 tcp and udp')
  await serve(t, c1.ns, 'c1', PORTS)

  const els = rg.elements().filter((e) => !e.map.startsWith('hairpin'))
  t.same(els.filter((e) => e.map.endsWith('4')).map((e) => e.map), ['shift4', 'shift4'], 'IPv4: one element per protocol, nothing per port')
  t.equal(els.filter((e) => e.map === 'any6').length, 22, 'IPv6: one element per port (no shift6, see layout.ts)')
  t.match(els.find((e) => e.map === 'shift4' && e.text.includes('"tcp"'))?.text, /\{"range":\[8000,8010\]\}.*"10\.77\.0\.\d+",\{"range":\[80,95\]\}/, 'key 8000-8010, data the container and the port window 80-95')
  t.match(rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'shifted_3']), /meta l4proto \{ tcp, udp, sctp \} fib daddr type local dnat ip to ip daddr \. meta l4proto \. th dport map @shift4/, 'the hand-built rule lists as an nft rule')
  t.ok(JSON.parse(rg.host.exec('nft', ['-j', 'list', 'ruleset'])).nftables.length > 0, 'nft -j list ruleset parses them')
  t.ok(chains(rg).includes('offset_nat_on'), 'the marker of the offset rules')

  for (const p of [8000, 8003, 8007, 8010]) t.equal(talk(rg.ext, '10.99.0.1', p), `c1 tcp ${p - 7920} from 10.99.0.2`, `outside → ${p}/tcp reaches ${p - 7920}`)
  for (const p of [8000, 8006, 8010]) t.equal(talk(rg.ext, '10.99.0.1', p, 'udp'), `c1 udp ${p - 7920} from 10.99.0.2`, `outside → ${p}/udp reaches ${p - 7920}`)
  for (const p of [8001, 8010]) t.equal(talk(rg.ext, 'fd99::1', p), `c1 tcp ${p - 7920} from fd99::2`, `outside → [fd99::1]:${p}/tcp`)
  t.equal(talk(rg.ext, 'fd99::1', 8009, 'udp'), 'c1 udp 89 from fd99::2', 'outside → [fd99::1]:8009/udp')
  t.equal(talk(rg.host, '10.99.0.1', 8004), 'c1 tcp 84 from 10.99.0.1', 'host → its own address (output hook)')
  t.equal(talk(rg.host, '127.0.0.1', 8008), 'c1 tcp 88 from 10.77.0.1', 'host → 127.0.0.1 (masqueraded)')
  t.match(talk(rg.ext, '10.99.0.1', 8011), /^ERR/, 'the port after the range is not forwarded')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(mappings, c1.prev)), 'CHECK')

  const c2 = await rg.container('c2', range(8010, 100, 3, 'tcp'))
  t.match(c2.add.json, { code: 7, msg: /\*:8010-8012\/tcp is already mapped: \*:8000-8010\/tcp belongs to .*id:c1 if:eth0/ }, 'an overlapping range is refused, naming the owner')
  const c3 = await rg.container('c3', range(8005, 85, 1, 'udp', '10.99.0.1'))
  t.match(c3.add.json, { code: 7, msg: /10\.99\.0\.1:8005\/udp is already mapped.*id:c1/ }, 'one port of the range on one address too')
  t.notOk(rg.elements().some((e) => /id:c[23] /.test(e.text)), 'nothing of c2 or c3 in the table')

  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL')
  t.same(rg.elements(), [], 'no element left')
  t.match(talk(rg.ext, '10.99.0.1', 8003), /^ERR/, 'no longer forwarded')
  ok(t, (await rg.container('c4', range(8005, 85, 2, 'tcp'))).add, 'the ports are free again')
})

t.test('a shifted range on one hostIP: CHECK reports its element missing, DEL cleans up', { skip }, async (t) => {
  const rg = await rig(t)
  const mappings = range(9000, 9100, 5, 'tcp', '10.99.0.1')
  const c1 = await rg.container('c1', mappings)
  ok(t, c1.add, 'ADD 10.99.0.1:9000-9004:9100-9104')
  await serve(t, c1.ns, 'c1', [9100, 9102, 9104])
  t.same(rg.elements().filter((e) => !e.map.startsWith('hairpin')).map((e) => e.map), ['shift4'], 'one element')
  t.equal(talk(rg.ext, '10.99.0.1', 9002), 'c1 tcp 9102 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 9004), 'c1 tcp 9104 from 10.99.0.2')
  t.match(talk(rg.host, '10.77.0.1', 9002), /^ERR/, 'another host address is not mapped')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(mappings, c1.prev)), 'CHECK')
  rg.host.exec('nft', ['delete', 'element', 'inet', 'berth_portmap', 'shift4', '{ 10.99.0.1 . tcp . 9000-9004 }'])
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(mappings, c1.prev)).json, { code: 103, msg: /10\.99\.0\.1:9000-9004\/tcp is not mapped/ }, 'CHECK fails when the element is missing')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL with the element gone')
  t.same(rg.elements(), [], 'nothing left')
  t.equal(readFileSync(join(rg.records, 'generation'), 'utf8').trim().length > 0, true, 'records kept their generation')
})

t.test('GC removes the shift elements of attachments not in the list', { skip }, async (t) => {
  const rg = await rig(t)
  ok(t, (await rg.container('c1', range(8000, 80, 11, 'tcp', '10.99.0.1'))).add, 'ADD c1')
  ok(t, (await rg.container('c2', range(9000, 90, 11, 'tcp', '10.99.0.1'))).add, 'ADD c2')
  const conf = { ...rg.pmConf([]), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }] }
  ok(t, runPlugin('portmap', { env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, stdin: conf, hostNetns: rg.host.path }), 'GC')
  const left = rg.elements().filter((e) => e.map === 'shift4')
  t.equal(left.length, 1, 'one shift element left')
  t.match(left[0]?.text, /id:c2 if:eth0/, "c2's")
})

t.test('a ruleset saved and restored with nft: it parses; CHECK sees the lost flag; the next ADD puts it back', { skip }, async (t) => {
  const rg = await rig(t)
  const m1 = range(8000, 80, 11, 'tcp')
  const c1 = await rg.container('c1', m1)
  ok(t, c1.add, 'ADD c1 8000-8010:80-90')
  const saved = rg.host.exec('nft', ['list', 'ruleset'])
  t.match(saved, /meta l4proto \{ tcp, udp, sctp \} fib daddr type local dnat ip to ip daddr \. meta l4proto \. th dport map @shift4/, 'listed with its protocol match')
  rg.host.exec('nft', ['flush', 'ruleset'])
  rg.host.exec('nft', ['-f', '-'], { input: saved })
  t.ok(rg.elements().some((e) => e.map === 'shift4'), 'restored (nft parses the listed rules)')
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev)).json, { code: 103, msg: /shifted_3 lost its port-offset flag/ }, 'CHECK: nft restored the rules without the flag')
  const m2 = range(9000, 90, 3, 'tcp')
  const c2 = await rg.container('c2', m2)
  ok(t, c2.add, 'ADD c2 9000-9002:90-92')
  t.match(c2.add.stderr, /lost the port-offset flag .* adding it again/, 'the ADD noticed and repaired')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev)), 'CHECK c1 passes again')
  await serve(t, c1.ns, 'c1', PORTS)
  await serve(t, c2.ns, 'c2', [90, 91, 92])
  t.equal(talk(rg.ext, '10.99.0.1', 8007), 'c1 tcp 87 from 10.99.0.2', '8007 → 87 again')
  t.equal(talk(rg.ext, '10.99.0.1', 9001), 'c2 tcp 91 from 10.99.0.2', '9001 → 91')
  t.equal(rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'shifted_3']).match(/dnat/g)?.length, 1, 'one rule, not two')
})

t.test('when the kernel refuses the offset rule: the layout without it, one element per port, same traffic', { skip }, async (t) => {
  const rg = await rig(t)
  // No mappings: the bridge only; the table is made by the next ADD, which sees the refusal.
  const c1 = await rg.container('c1', [])
  const mappings = [...range(8000, 80, 11, 'tcp'), ...range(8000, 80, 11, 'udp')]
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: c1.ns.path, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, BERTH_TEST_REFUSE_OFFSET_NAT: '1' }
  const add = runPlugin('portmap', { env, stdin: rg.pmConf(mappings, c1.prev), hostNetns: rg.host.path })
  ok(t, add, 'ADD while the kernel refuses the rule')
  t.match(add.stderr, /port-offset DNAT not available \(nf_tables refused "add rule inet berth_portmap shifted_3": E[A-Z]+\)/, 'the refusal is logged')
  t.notOk(chains(rg).includes('offset_nat_on'), 'no offset marker')
  t.ok(chains(rg).some((c) => c.startsWith('layout_3_')), 'the layout marker alone')
  t.notMatch(rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'shifted_3']), /dnat/, 'chain shifted_3 stays empty (the whole transaction was refused)')
  const els = rg.elements().filter((e) => !e.map.startsWith('hairpin'))
  t.equal(els.filter((e) => e.map === 'any4').length, 22, 'one IPv4 element per port and protocol')
  t.equal(els.filter((e) => e.map.startsWith('shift')).length, 0, 'no shift element')
  await serve(t, c1.ns, 'c1', PORTS)
  for (const p of [8000, 8007, 8010]) t.equal(talk(rg.ext, '10.99.0.1', p), `c1 tcp ${p - 7920} from 10.99.0.2`, `${p}/tcp reaches ${p - 7920}`)
  t.equal(talk(rg.ext, 'fd99::1', 8003, 'udp'), 'c1 udp 83 from fd99::2', '8003/udp over IPv6')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(mappings, c1.prev)), 'CHECK (per-port elements expected)')
  const c2 = await rg.container('c2', range(8010, 90, 2, 'tcp'))
  t.match(c2.add.json, { code: 7, msg: /8000-8010\/tcp belongs to .*id:c1/ }, 'conflicts name the range and its owner')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL')
  t.same(rg.elements(), [], 'nothing left')
})

t.test('a table of layout 2 is upgraded in place: same generation, records valid, old elements kept', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', range(8080, 80, 1, 'tcp'))
  ok(t, c1.add, 'ADD c1 8080')
  const gen = readFileSync(join(rg.records, 'generation'), 'utf8').trim()
  // What layout 2 had: no shift maps, no shifted_3, marker layout_2_<gen>; c1's 8080 and its record.
  rg.host.exec('nft', ['-f', '-'], {
    input: [
      'flush chain inet berth_portmap hostports_2',
      'add rule inet berth_portmap hostports_2 meta nfproto ipv4 meta l4proto { tcp, udp, sctp } fib daddr type local dnat ip to meta l4proto . th dport map @any4',
      'delete chain inet berth_portmap shifted_3',
      'delete map inet berth_portmap shift4',
      'delete chain inet berth_portmap offset_nat_on',
      `delete chain inet berth_portmap layout_3_${gen}`,
      `add chain inet berth_portmap layout_2_${gen}`,
    ].join('\n'),
  })
  t.notOk(chains(rg).some((c) => c.startsWith('layout_3_')), 'a layout-2 table')
  const mappings = range(8000, 80, 11, 'tcp')
  const c2 = await rg.container('c2', mappings)
  ok(t, c2.add, 'ADD c2 8000-8010:80-90')
  const now = chains(rg)
  t.ok(now.includes(`layout_3_${gen}`) && now.includes(`layout_2_${gen}`) && now.includes('offset_nat_on'), 'upgraded, same generation, both markers')
  t.notOk(existsSync(join(rg.records, 'legacy')), 'records still describe the table: not legacy')
  t.same(rg.elements().filter((e) => e.map.startsWith('shift')).length, 1, "c2's IPv4 range: one element")
  await serve(t, c1.ns, 'c1', [80])
  await serve(t, c2.ns, 'c2', PORTS)
  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', "c1's element from before the upgrade still forwards")
  t.equal(talk(rg.ext, '10.99.0.1', 8005), 'c2 tcp 85 from 10.99.0.2', "c2's range forwards")
  t.match(rg.pm('ADD', 'c3', c2.ns, rg.pmConf(range(8080, 80, 1, 'tcp'), c2.prev)).json, { code: 7, msg: /id:c1/ }, "c1's reservation still counts (its record survived)")
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL c1 by its record')
  ok(t, rg.pm('DEL', 'c2', '', rg.pmConf([])), 'DEL c2')
  t.same(rg.elements(), [], 'nothing left')
})
