// bin/portmap with the nftables backend against the kernel: every reachability path with real TCP and UDP
// payloads, conflicts, ranges, CHECK/GC and bad input (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { BIN_DIR } from '../../../helpers/paths.js'
import { createTestNetns } from '../../../helpers/netns.js'
import { ok, rig, serve, skip, talk, V } from '../../../helpers/portmap-rig.js'
import { runPlugin } from '../../../helpers/run-plugin.js'

t.test('reachability: outside, host (own address and 127.0.0.1), hairpin, the container itself; not for non-local destinations', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
  ])
  ok(t, c1.add, 'portmap ADD c1')
  t.same(c1.add.json, c1.prev, 'ADD returns prevResult unchanged')
  const c2 = await rg.container('c2', [])
  ok(t, c2.add, 'portmap ADD c2 without mappings')
  await serve(t, c1.ns, 'c1', [80, 53, 8080])
  await serve(t, c2.ns, 'c2', [8080])

  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'outside → host address (TCP), source kept')
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.99.0.2', 'outside → host address (UDP)')
  t.equal(talk(rg.ext, 'fd99::1', 8080), 'c1 tcp 80 from fd99::2', 'outside → host IPv6 address')
  t.equal(talk(rg.ext, 'fd99::1', 8053, 'udp'), 'c1 udp 53 from fd99::2', 'outside → host IPv6 address (UDP)')
  t.equal(talk(rg.host, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.1', 'host → its own address')
  t.equal(talk(rg.host, '10.77.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → its bridge address')
  t.equal(talk(rg.host, '127.0.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → 127.0.0.1 (route_localnet, masqueraded)')
  t.equal(talk(rg.host, '127.0.0.1', 8053, 'udp'), 'c1 udp 53 from 10.77.0.1', 'host → 127.0.0.1 over UDP')
  t.equal(talk(rg.host, 'fd99::1', 8080), 'c1 tcp 80 from fd99::1', 'host → its own IPv6 address')
  t.equal(talk(c2.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'hairpin: another container → host address (masqueraded)')
  t.equal(talk(c2.ns, 'fd99::1', 8080), 'c1 tcp 80 from fd77::1', 'hairpin over IPv6')
  t.equal(talk(c1.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'the container itself → host address')
  t.equal(talk(c1.ns, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.77.0.1', 'the container itself → host address (UDP)')
  t.equal(talk(c1.ns, 'fd99::1', 8080), 'c1 tcp 80 from fd77::1', 'the container itself → host IPv6 address')
  // GHSA-jv3w-x3r3-g6rm: traffic routed through the host to another address keeps its destination.
  t.equal(talk(rg.ext, '10.77.0.3', 8080), 'c2 tcp 8080 from 10.99.0.2', 'a non-local destination on the mapped port is not DNATed')
  t.equal(talk(rg.ext, '10.77.0.2', 8080), 'c1 tcp 8080 from 10.99.0.2', "the container's own port 8080 is reached directly")

  const bridgeName = ((c1.prev['interfaces'] as { name: string }[])[0] ?? { name: '' }).name
  t.equal(rg.host.exec('cat', [`/proc/sys/net/ipv4/conf/${bridgeName}/route_localnet`]).trim(), '1', 'route_localnet on the bridge')
  const ruleset = rg.host.exec('nft', ['list', 'chain', 'inet', 'berth_portmap', 'guard'])
  t.match(ruleset, /iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop/, '127.0.0.0/8 from anywhere but lo is dropped')
  const mine = rg.elements()
  t.equal(mine.filter((e) => e.map === 'any4').length, 2, 'one IPv4 element per mapping, in the hash map of every-address ports')
  t.equal(mine.filter((e) => e.map === 'any6').length, 2, 'one IPv6 element per mapping')
  t.ok(mine.filter((e) => !e.map.startsWith('hairpin')).every((e) => /id:c1 if:eth0/.test(e.text)), 'every port element is owned by c1')
  const hairpin = mine.filter((e) => e.map.startsWith('hairpin'))
  t.equal(hairpin.length, 3, 'hairpin: subnet to subnet for each family, and 127.0.0.0/8 to the IPv4 subnet')
  t.ok(hairpin.every((e) => e.text.includes('shared hairpin')), 'shared by the attachments of the subnet')

  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8053, containerPort: 53, protocol: 'udp' }], c1.prev)), 'CHECK')
  const c3 = await rg.container('c3', [{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }])
  ok(t, c3.add, 'ADD c3 (the same subnet)')
  t.equal(rg.elements().filter((e) => e.map.startsWith('hairpin')).length, 3, 'no hairpin element more')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL without netns or prevResult')
  t.equal(rg.elements().filter((e) => e.map.startsWith('hairpin')).length, 3, 'the hairpin elements stay while c3 uses them')
  await serve(t, c3.ns, 'c3', [80])
  t.equal(talk(c2.ns, '10.99.0.1', 8081), 'c3 tcp 80 from 10.77.0.1', 'hairpin to c3 still masqueraded')
  t.equal(talk(rg.host, '127.0.0.1', 8081), 'c3 tcp 80 from 10.77.0.1', 'and 127.0.0.1 too')
  ok(t, rg.pm('DEL', 'c3', '', rg.pmConf([])), 'DEL c3')
  t.same(rg.elements(), [], 'no element left')
  t.match(talk(rg.ext, '10.99.0.1', 8080), /^ERR/, 'no longer forwarded after DEL')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL again')
})

t.test('conflicts: another container, a listening host process; nothing left behind', { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('c1', [{ hostPort: 8080, containerPort: 80 }])
  ok(t, c1.add, 'ADD c1')
  const before = rg.elements()
  const c2 = await rg.container('c2', [
    { hostPort: 9000, containerPort: 90 },
    { hostPort: 8080, containerPort: 80, protocol: 'TCP' },
  ])
  t.match(c2.add.json, { code: 7, msg: /8080\/tcp is already mapped.*id:c1 if:eth0/ }, 'the same port is refused, naming the owner')
  t.same(rg.elements(), before, 'nothing of c2 in the table')
  const c3 = await rg.container('c3', [{ hostPort: 8080, containerPort: 80, hostIP: '10.99.0.1' }])
  t.match(c3.add.json, { code: 7, msg: /10\.99\.0\.1:8080\/tcp is already mapped/ }, 'a specific address conflicts with "every address"')
  const c4 = await rg.container('c4', [{ hostPort: 8080, containerPort: 80, protocol: 'udp' }])
  ok(t, c4.add, 'the same port over UDP is another mapping')

  await serve(t, rg.host, 'hostproc', [9191])
  const c5 = await rg.container('c5', [{ hostPort: 9191, containerPort: 80 }])
  t.match(c5.add.json, { code: 7, msg: /9191\/tcp is in use: a host process listens/ }, 'a listening host process is reported')
  t.notOk(rg.elements().some((e) => e.text.includes('id:c5')), 'nothing of c5 in the table')
})

t.test('port ranges: same-port ranges are one interval element, shifted ranges one shift element (shifted.ts has more)', { skip }, async (t) => {
  const rg = await rig(t)
  const same = [7000, 7001, 7002].map((p) => ({ hostPort: p, containerPort: p, protocol: 'tcp', hostIP: '10.99.0.1' }))
  const shifted = [0, 1, 2].map((i) => ({ hostPort: 8000 + i, containerPort: 80 + i, protocol: 'tcp', hostIP: '10.99.0.1' }))
  const c1 = await rg.container('c1', [...same, ...shifted])
  ok(t, c1.add, 'ADD')
  await serve(t, c1.ns, 'c1', [7000, 7001, 7002, 80, 81, 82])
  const els = rg.elements()
  t.equal(els.filter((e) => e.map === 'ranges4').length, 1, 'one element for 7000-7002')
  t.match(els.find((e) => e.map === 'ranges4')?.text, /"range":\[7000,7002\]/)
  t.equal(els.filter((e) => e.map === 'shift4').length, 1, '8000-8002 → 80-82 is one element too (offset DNAT)')
  t.equal(els.filter((e) => e.map === 'host4').length, 0, 'no element per port')
  t.equal(els.filter((e) => /6$/.test(e.map) && e.map !== 'hairpin6').length, 0, 'IPv4 hostIP: no IPv6 elements')
  t.equal(talk(rg.ext, '10.99.0.1', 7001), 'c1 tcp 7001 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 7002), 'c1 tcp 7002 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 8000), 'c1 tcp 80 from 10.99.0.2')
  t.equal(talk(rg.ext, '10.99.0.1', 8002), 'c1 tcp 82 from 10.99.0.2')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([...same, ...shifted], c1.prev)), 'CHECK')
})

t.test('CHECK reports a missing element; GC keeps valid attachments only', { skip }, async (t) => {
  const rg = await rig(t)
  const m1 = [{ hostPort: 8080, containerPort: 80 }]
  const m2 = [{ hostPort: 8081, containerPort: 80 }]
  const c1 = await rg.container('c1', m1)
  const c2 = await rg.container('c2', m2)
  ok(t, c1.add, 'ADD c1')
  ok(t, c2.add, 'ADD c2')
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1)).json, { code: 7, msg: /prevResult/ }, 'CHECK needs prevResult')
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf([{ hostPort: 8089, containerPort: 80 }], c1.prev)).json, { code: 103, msg: /8089\/tcp is not mapped/ }, 'CHECK finds what is missing')
  rg.host.exec('nft', ['delete', 'element', 'inet', 'berth_portmap', 'any4', '{ tcp . 8080 }'])
  t.match(rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev)).json, { code: 103, msg: /\*:8080\/tcp is not mapped/ })

  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }
  const conf11 = { ...rg.pmConf([]), cniVersion: '1.1.0' }
  const gc = (valid: unknown) => runPlugin('portmap', { env: gcEnv, stdin: { ...conf11, 'cni.dev/valid-attachments': valid }, hostNetns: rg.host.path })
  ok(t, runPlugin('portmap', { env: gcEnv, stdin: conf11, hostNetns: rg.host.path }), 'GC without a list')
  t.ok(rg.elements().some((e) => e.text.includes('id:c1')), 'nothing collected without a list')
  ok(t, gc([{ containerID: 'c2', ifname: 'eth0' }]), 'GC')
  t.notOk(rg.elements().some((e) => e.text.includes('id:c1')), "c1's elements collected")
  t.ok(rg.elements().some((e) => e.text.includes('id:c2')), "c2's elements kept")
  ok(t, runPlugin('portmap', { env: { ...gcEnv, CNI_COMMAND: 'STATUS' }, stdin: conf11, hostNetns: rg.host.path }), 'STATUS')
})

t.test('bad input: coded errors, nothing left behind', { skip }, async (t) => {
  const rg = await rig(t)
  const v4only = await createTestNetns(t)
  const prev4 = { cniVersion: V, interfaces: [{ name: 'eth0', sandbox: v4only.path }], ips: [{ address: '10.77.0.9/24', interface: 0 }] }
  const cases: [unknown, number, RegExp][] = [
    [{ hostPort: 0, containerPort: 80 }, 7, /hostPort: must be between 1 and 65535/],
    [{ hostPort: 70000, containerPort: 80 }, 7, /hostPort/],
    [{ hostPort: 80, containerPort: 0 }, 7, /containerPort/],
    [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }, 7, /protocol: must be one of tcp, udp, sctp/],
    [{ hostPort: 80, containerPort: 80, hostIP: 'localhost' }, 7, /hostIP/],
    [{ hostPort: 80, containerPort: 80, hostIP: 'fd99::1' }, 7, /no IPv6 address/],
  ]
  for (const [m, code, msg] of cases) {
    t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([m], prev4)).json, { code, msg }, JSON.stringify(m))
  }
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }, { hostPort: 80, containerPort: 81 }], prev4)).json, { code: 7, msg: /claim the same host port/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { conditionsV4: ['-s', '1.2.3.4'] })).json, { code: 2, msg: /conditionsV4/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { backend: 'pf' })).json, { code: 7, msg: /backend/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }], prev4, { markMasqBit: 40 })).json, { code: 7, msg: /markMasqBit/ })
  t.match(rg.pm('ADD', 'c1', v4only, rg.pmConf([{ hostPort: 80, containerPort: 80 }])).json, { code: 7, msg: /chained plugin/ })
  t.same(rg.elements(), [], 'no element added by any failed ADD')
})
