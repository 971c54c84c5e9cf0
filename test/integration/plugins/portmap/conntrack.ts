// bin/portmap flushes stale conntrack entries: on ADD those to the new host ports, on DEL those DNATed to
// the container (UDP and SCTP, IPv4 and IPv6), so a flow that started before a change does not keep its
// old destination (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { noConntrack, ok, rig, serve, skip, talk } from '../../../helpers/portmap-rig.js'

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

t.test('ADD flushes IPv6 UDP and SCTP (both families) entries to the host ports; DEL those DNATed to the container', { skip: skip || noConntrack }, async (t) => {
  const rg = await rig(t)
  ok(t, (await rg.container('c0', [])).add, 'ADD c0 (connection tracking on in the host)')
  const ct = (args: string[]) => rg.host.exec('conntrack', args)
  // SCTP has no socket in this kernel (no sctp module): stale entries are inserted as a flow would leave them.
  const sctpEntry = (src: string, dst: string, extra: string[] = []) =>
    ct(['-I', '-p', 'sctp', '-s', src, '-d', dst, '--sport', '5000', '--dport', '8132', '--state', 'ESTABLISHED', '--orig-vtag', '1', '--reply-vtag', '2', '-t', '120', ...extra])
  t.match(talk(rg.ext, 'fd99::1', 8053, 'udp'), /^ERR/, 'nothing answers on IPv6 before the mapping')
  sctpEntry('10.99.0.2', '10.99.0.1')
  sctpEntry('fd99::2', 'fd99::1')
  const toPort = (f: string, p: string, port: number) => ct(['-L', '-f', f, '-p', p, '--orig-port-dst', String(port)])
  t.match(toPort('ipv6', 'udp', 8053), /dport=8053/, 'a stale IPv6 UDP entry')
  t.match(toPort('ipv4', 'sctp', 8132), /dport=8132/, 'a stale IPv4 SCTP entry')
  t.match(toPort('ipv6', 'sctp', 8132), /dport=8132/, 'a stale IPv6 SCTP entry')

  const c1 = await rg.container('c1', [
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
    { hostPort: 8132, containerPort: 132, protocol: 'sctp' },
  ])
  ok(t, c1.add, 'ADD')
  t.notMatch(toPort('ipv6', 'udp', 8053), /dport=8053/, 'the IPv6 UDP entry is gone')
  t.notMatch(toPort('ipv4', 'sctp', 8132), /dport=8132/, 'the IPv4 SCTP entry is gone')
  t.notMatch(toPort('ipv6', 'sctp', 8132), /dport=8132/, 'the IPv6 SCTP entry is gone')

  // Flows DNATed to c1: real UDP over both families, SCTP inserted with c1 as the reply source.
  const ips = (c1.prev['ips'] as { address: string }[]).map((i) => i.address.split('/')[0] as string)
  const v4 = ips.find((a) => !a.includes(':')) as string
  const v6 = ips.find((a) => a.includes(':')) as string
  await serve(t, c1.ns, 'c1', [53])
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), `c1 udp 53 from 10.99.0.2`, 'UDP over IPv4 through the mapping')
  t.equal(talk(rg.ext, 'fd99::1', 8053, 'udp'), `c1 udp 53 from fd99::2`, 'UDP over IPv6 through the mapping')
  sctpEntry('10.99.0.2', '10.99.0.1', ['-r', v4, '-q', '10.99.0.2', '--reply-port-src', '132', '--reply-port-dst', '5000'])
  sctpEntry('fd99::2', 'fd99::1', ['-r', v6, '-q', 'fd99::2', '--reply-port-src', '132', '--reply-port-dst', '5000'])
  const fromC1 = (f: string, p: string, ip: string) => ct(['-L', '-f', f, '-p', p, '--reply-src', ip])
  for (const [f, ip] of [['ipv4', v4], ['ipv6', v6]] as const) {
    for (const p of ['udp', 'sctp']) t.match(fromC1(f, p, ip), new RegExp(`src=${ip.replace(/\./g, '\\.')}`), `${f} ${p} entry DNATed to c1`)
  }
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL')
  for (const [f, ip] of [['ipv4', v4], ['ipv6', v6]] as const) {
    for (const p of ['udp', 'sctp']) t.notMatch(fromC1(f, p, ip), new RegExp(`src=${ip.replace(/\./g, '\\.')}`), `${f} ${p} entry to c1 is gone`)
  }
})
