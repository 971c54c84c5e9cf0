// bin/portmap flushes stale conntrack entries: on ADD those to the new host ports, on DEL those DNATed to
// the container (UDP and SCTP, IPv4 and IPv6), so a flow that started before a change does not keep its
// old destination (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { noConntrack, ok, rig, skip, talk } from '../../../helpers/portmap-rig.js'

t.test('ADD flushes stale UDP conntrack entries for the host port', { skip: skip || noConntrack }, async (t) => {
  const rg = await rig(t)
  // A first container: bridge's NAT table turns connection tracking on in the host namespace.
  ok(t, (await rg.container('c0', [])).add, 'ADD c0')
  t.match(talk(rg.ext, '10.99.0.1', 8053, 'udp'), /^ERR/, 'nothing answers before the mapping')
  const list = () => rg.host.exec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '8053'])
  t.match(list(), /dport=8053/, 'a conntrack entry to the host port exists')
  const c1 = await rg.container('c1', [{ hostPort: 8053, containerPort: 53, protocol: 'udp' }])
  ok(t, c1.add, 'ADD')
  t.notMatch(list(), /dport=8053/, 'the stale entry is gone')
})
