// bin/portmap with "backend": "iptables" against the kernel (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { BIN_DIR } from '../../../helpers/paths.js'
import { noIptables, ok, rig, serve, skip, talk } from '../../../helpers/portmap-rig.js'
import { runPlugin } from '../../../helpers/run-plugin.js'

t.test('backend iptables: the same paths, a shifted range as one rule, conflicts across backends, CHECK/DEL/GC', { skip: skip || noIptables }, async (t) => {
  const rg = await rig(t)
  const ipt = { backend: 'iptables' }
  const m1 = [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
    ...[0, 1, 2].map((i) => ({ hostPort: 8000 + i, containerPort: 80 + i, protocol: 'tcp', hostIP: '10.99.0.1' })),
  ]
  const c1 = await rg.container('c1', m1, ipt)
  ok(t, c1.add, 'ADD c1 (iptables)')
  const c2 = await rg.container('c2', [], ipt)
  await serve(t, c1.ns, 'c1', [80, 81, 82, 53, 8080])
  await serve(t, c2.ns, 'c2', [8080])
  t.equal(talk(rg.ext, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.2', 'outside → host address')
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), 'c1 udp 53 from 10.99.0.2', 'outside → host address (UDP)')
  t.equal(talk(rg.ext, 'fd99::1', 8080), 'c1 tcp 80 from fd99::2', 'outside → host IPv6 address')
  t.equal(talk(rg.ext, '10.99.0.1', 8002), 'c1 tcp 82 from 10.99.0.2', 'shifted range')
  t.equal(talk(rg.host, '10.99.0.1', 8080), 'c1 tcp 80 from 10.99.0.1', 'host → its own address')
  t.equal(talk(rg.host, '127.0.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'host → 127.0.0.1')
  t.equal(talk(c2.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'hairpin')
  t.equal(talk(c1.ns, '10.99.0.1', 8080), 'c1 tcp 80 from 10.77.0.1', 'the container itself')
  t.equal(talk(rg.ext, '10.77.0.3', 8080), 'c2 tcp 8080 from 10.99.0.2', 'a non-local destination is not DNATed')

  const dnat = rg.host.exec('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A BERTH-HOSTPORTS ') && l.includes('DNAT'))
  t.equal(dnat.length, 3, 'IPv4: one rule per mapping, the shifted range is one rule')
  t.ok(dnat.some((l) => l.includes('--dport 8000:8002') && l.includes('--to-destination 10.77.0.2:80-82/8000')))
  t.match(rg.host.exec('iptables-save', ['-t', 'raw']), /-d 127\.0\.0\.0\/8 ! -i lo .*-j DROP/, 'the 127.0.0.0/8 guard')

  const c3 = await rg.container('c3', [{ hostPort: 8080, containerPort: 80 }], ipt)
  t.match(c3.add.json, { code: 7, msg: /8080\/tcp is already mapped.*id:c1 if:eth0/ }, 'a conflict names the owner')
  t.notMatch(rg.host.exec('iptables-save', ['-t', 'nat']), /id:c3/, 'nothing of c3 left')
  ok(t, rg.pm('CHECK', 'c1', c1.ns, rg.pmConf(m1, c1.prev, ipt)), 'CHECK')
  const c4 = await rg.container('c4', [{ hostPort: 9090, containerPort: 80 }], ipt)
  ok(t, c4.add, 'ADD c4')
  const gc = runPlugin('portmap', { env: { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, stdin: { ...rg.pmConf([], undefined, ipt), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }, hostNetns: rg.host.path })
  ok(t, gc, 'GC')
  t.notMatch(rg.host.exec('iptables-save', ['-t', 'nat']), /id:c4/, "c4's rules collected")
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([], undefined, ipt)), 'DEL')
  const left = (f: string) => rg.host.exec(f, ['-t', 'nat']).split('\n').filter((l) => l.includes('id:c1'))
  t.same([...left('iptables-save'), ...left('ip6tables-save')], [], 'no rule of c1 left')
  t.match(talk(rg.ext, '10.99.0.1', 8080), /^ERR/, 'no longer forwarded')
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([], undefined, ipt)), 'DEL again')
})
