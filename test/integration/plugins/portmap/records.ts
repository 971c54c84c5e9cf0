// bin/portmap's records (/run/berth/portmap/<dev>-<ino>/): per host namespace, wiped when they describe
// another table, and every path where they are missing or wrong falls back to the kernel: elements
// deleted by hand, records lost, a crash between record and transaction, a table of the first layout
// (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NET, ok, rig, serve, skip, talk } from '../../../helpers/portmap-rig.js'
import { portmapOwner } from '../../../../plugins/portmap/plan.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const tagOf = (id: string) => portmapOwner(NET, id, 'eth0').tag
const m = (hostPort: number, containerPort = 80) => ({ hostPort, containerPort, protocol: 'tcp' })

t.test('records are per host namespace; records left by a namespace whose inode was reused are wiped', { skip }, async (t) => {
  const a = await rig(t)
  const b = await rig(t)
  t.not(a.records, b.records, 'one directory per host namespace')
  // What a dead namespace with b's inode could have left: a generation, a record, a reservation of 8080.
  const ghost = portmapOwner(NET, 'ghost', 'eth0')
  mkdirSync(join(b.records, 'owners'), { recursive: true })
  mkdirSync(join(b.records, 'ports', '4-tcp-8080'), { recursive: true })
  writeFileSync(join(b.records, 'generation'), 'deadbeef0000\n')
  const entry = { family: 4, protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerIP: '10.77.0.9', containerPort: 80 }
  writeFileSync(join(b.records, 'owners', `${ghost.tag}.json`), JSON.stringify({ version: 1, tag: ghost.tag, netTag: ghost.netTag, comment: ghost.comment, backend: 'nftables', entries: [entry], elements: [], hairpin: [] }))
  writeFileSync(join(b.records, 'ports', '4-tcp-8080', 'any'), `${ghost.tag}\n`)

  ok(t, (await a.container('c1', [m(8080)])).add, 'host a: ADD 8080')
  // (both rigs share one IPAM directory: another container ID)
  const c2 = await b.container('c2', [m(8080)])
  ok(t, c2.add, "host b: ADD 8080 (a's reservation and the ghost's are not b's)")
  t.notOk(existsSync(join(b.records, 'owners', `${ghost.tag}.json`)), "the ghost's record is gone: b's table is new")
  t.ok(existsSync(join(b.records, 'owners', `${tagOf('c2')}.json`)), "c2's record in b")
  t.equal(readdirSync(join(b.records, 'ports', '4-tcp-8080')).join(), 'any', 'one reservation of 8080 in b')
  await serve(t, c2.ns, 'c2', [80])
  t.equal(talk(b.ext, '10.99.0.1', 8080), 'c2 tcp 80 from 10.99.0.2', 'and it forwards')
})

t.test('DEL when elements were deleted by hand, records were lost, or ADD crashed before its transaction', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [m(8080), m(8081)])
  ok(t, c1.add, 'ADD c1')
  t.ok(existsSync(join(rg.records, 'owners', `${tagOf('c1')}.json`)), 'record written')
  t.equal(readdirSync(join(rg.records, 'ports')).sort().join(), '4-tcp-8080,4-tcp-8081,6-tcp-8080,6-tcp-8081', 'one reservation per family and port')
  rg.host.exec('nft', ['delete', 'element', 'inet', 'berth_portmap', 'any4', '{ tcp . 8080 }'])
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL with one element already gone')
  t.same(rg.elements().filter((e) => e.text.includes('id:c1')), [], 'the rest of c1 is deleted (by owner tag)')
  t.same(readdirSync(join(rg.records, 'owners')), [], 'record removed')
  t.same(readdirSync(join(rg.records, 'ports')), [], 'reservations removed')

  // A crash between writing the record and the transaction: the port is held until the runtime's DEL.
  const c9 = portmapOwner(NET, 'c9', 'eth0')
  const entry = { family: 4, protocol: 'tcp', hostPort: 7070, hostPortEnd: 7070, containerIP: '10.77.0.9', containerPort: 80 }
  writeFileSync(join(rg.records, 'owners', `${c9.tag}.json`), JSON.stringify({ version: 1, tag: c9.tag, netTag: c9.netTag, comment: c9.comment, backend: 'nftables', entries: [entry], elements: [{ set: 'any4', elem: { key: { concat: ['tcp', 7070] } } }], hairpin: [] }))
  mkdirSync(join(rg.records, 'ports', '4-tcp-7070'))
  writeFileSync(join(rg.records, 'ports', '4-tcp-7070', 'any'), `${c9.tag}\n`)
  const c2 = await rg.container('c2', [m(7070)])
  t.match(c2.add.json, { code: 7, msg: /7070\/tcp is already mapped.*id:c9 if:eth0/ }, 'the crashed attachment still holds its port')
  ok(t, rg.pm('DEL', 'c9', '', rg.pmConf([])), "the runtime's DEL of the crashed attachment")
  ok(t, rg.pm('ADD', 'c2', c2.ns, rg.pmConf([m(7070)], c2.prev)), 'then the port is free')

  // Records lost (removed by hand): the table no longer matches them; ADD and DEL also list.
  rmSync(rg.records, { recursive: true, force: true })
  const c3 = await rg.container('c3', [m(9000)])
  ok(t, c3.add, 'ADD after the records were lost')
  t.ok(existsSync(join(rg.records, 'legacy')), 'marked legacy: elements without records exist')
  const c4 = await rg.container('c4', [m(7070)])
  t.match(c4.add.json, { code: 7, msg: /7070\/tcp is already mapped.*id:c2 if:eth0/ }, 'a conflict with an element without record is found by listing')
  ok(t, rg.pm('DEL', 'c2', '', rg.pmConf([])), 'DEL of an attachment without record')
  t.same(rg.elements().filter((e) => e.text.includes('id:c2')), [], 'its elements are found by owner tag')
  t.notOk(existsSync(join(rg.records, 'legacy')), 'every element left has a record: no longer legacy')
  ok(t, rg.pm('DEL', 'c3', '', rg.pmConf([])), 'DEL c3')
  t.same(rg.elements().filter((e) => !e.text.includes('id:c1')), [], 'no element left')
})

t.test('a table of the first layout (interval maps ports4/ports6) keeps working and is cleaned up', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [])
  ok(t, c1.add, 'container c1, no mappings yet')
  const ip = '10.77.0.2'
  const o1 = portmapOwner(NET, 'c1', 'eth0')
  // What the first layout made for c1 publishing 8080 → 80.
  const tb = 'inet berth_portmap'
  const script = [
    `add table ${tb}`,
    `add map ${tb} ports4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags interval; }`,
    `add chain ${tb} hostports`,
    `add chain ${tb} prerouting { type nat hook prerouting priority -100; policy accept; }`,
    `add rule ${tb} hostports meta l4proto { tcp, udp, sctp } fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports4`,
    `add rule ${tb} prerouting jump hostports`,
    `add element ${tb} ports4 { 0.0.0.0/0 . tcp . 8080 comment "${o1.comment}" : ${ip} . 80 }`,
  ].join('\n')
  rg.host.exec('nft', ['-f', '-'], { input: script })
  await serve(t, c1.ns, 'c1', [80])
  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'the first layout forwards')

  const c2 = await rg.container('c2', [m(8080)])
  t.match(c2.add.json, { code: 7, msg: /8080\/tcp is already mapped.*id:c1 if:eth0/ }, 'its elements are seen as owners')
  ok(t, rg.pm('ADD', 'c2', c2.ns, rg.pmConf([m(9000, 90)], c2.prev)), 'an ADD on the old table')
  t.match(rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'hostports']), /@ports4/, 'the old map keeps its rule')
  await serve(t, c2.ns, 'c2', [90])
  t.equal(talk(rg.ext, '10.99.0.1', 9000), 'c2 tcp 90 from 10.99.0.2', 'the new layout forwards')
  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'and so does the old one')
  // A first-layout binary declaring its chains again (flush + rules) leaves the new chains alone.
  rg.host.exec('nft', ['-f', '-'], { input: [`flush chain ${tb} hostports`, script.split('\n')[4], `flush chain ${tb} prerouting`, script.split('\n')[5]].join('\n') })
  t.equal(talk(rg.ext, '10.99.0.1', 9000), 'c2 tcp 90 from 10.99.0.2', 'the new layout still forwards after an old re-declare')
  t.ok(existsSync(join(rg.records, 'legacy')), 'legacy while elements without records exist')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL c1 (no record: found by listing)')
  t.notOk(existsSync(join(rg.records, 'legacy')), 'then no longer legacy')
  t.match(talk(rg.ext, '10.99.0.1', 8080), /^ERR/, 'no longer forwarded')
  ok(t, rg.pm('DEL', 'c2', '', rg.pmConf([])), 'DEL c2')
  t.same(rg.elements(), [], 'both the old and the new elements are gone')
})

t.test('concurrent ADDs on a new host: one table, no lost record, exactly one winner of a contested port', { skip }, async (t) => {
  const rg = await rig(t)
  const c = await rg.container('c0', [])
  ok(t, c.add, 'a container (no mappings: the host has no table yet)')
  // Plugin processes started together, each with its own container ID and port(s); p4 and p5 want 7200.
  const ports = [7100, 7101, 7102, 7103, 7200, 7200]
  const add = (i: number) =>
    new Promise<{ status: number | null; out: string }>((resolve) => {
      const p = spawn('nsenter', [`--net=${rg.host.path}`, '--', join(BIN_DIR, 'portmap')], {
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: `p${i}`, CNI_NETNS: c.ns.path, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR },
      })
      let out = ''
      p.stdout.on('data', (d: Buffer) => (out += d.toString()))
      p.on('close', (status) => resolve({ status, out }))
      p.stdin.end(JSON.stringify(rg.pmConf([m(ports[i] as number)], c.prev)))
    })
  const rs = await Promise.all(ports.map((_, i) => add(i)))
  for (let i = 0; i < 4; i++) t.equal(rs[i]?.status, 0, `p${i}: ${rs[i]?.out}`)
  const [a, b] = [rs[4], rs[5]]
  t.equal([a?.status, b?.status].filter((x) => x === 0).length, 1, 'one of p4 and p5 gets 7200')
  const loser = a?.status === 0 ? b : a
  t.match(JSON.parse(loser?.out ?? '{}'), { code: 7, msg: /7200\/tcp is already mapped.*id:p[45] if:eth0/ }, 'the other is told who has it')
  t.equal(rg.elements().filter((e) => e.map === 'any4').length, 5, 'five attachments in the table')
  t.equal(readdirSync(join(rg.records, 'owners')).length, 5, 'five records')
  for (let i = 0; i < 6; i++) ok(t, rg.pm('DEL', `p${i}`, '', rg.pmConf([])), `DEL p${i}`)
  t.same(rg.elements(), [], 'no element left')
  t.same(readdirSync(join(rg.records, 'owners')), [], 'no record left')
  t.same(readdirSync(join(rg.records, 'ports')), [], 'no reservation left')
})
