// Which networks a container gets: two containers on a user network (`berth net create`) reach each
// other; --net host shares the host's namespace (its interfaces); --net none has only lo (up); two
// --net give eth0 and eth1. Everything runs in a throw-away host namespace and is removed afterwards.
import t from 'tap'
import { containerIPs, createBerthHost } from '../../helpers/berth-host.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR)

type Inspect = Parameters<typeof containerIPs>[0] & { id: string }
type Link = { ifname: string; flags: string[] }

t.test('two containers on a user network reach each other; rm leaves nothing', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const net = b.berth(['net', 'create', 'appnet', '--subnet', '10.123.7.0/24'])
  t.equal(net.status, 0, net.stderr)
  for (const n of ['a1', 'a2']) {
    const r = b.berth(['run', '-d', '--name', n, '--net', 'appnet', '--', 'sleep', '1000'])
    t.equal(r.status, 0, r.stderr)
  }
  const insp = ['a1', 'a2'].map((n) => JSON.parse(b.berth(['inspect', n]).stdout) as Inspect)
  const [ip1, ip2] = insp.map((i) => containerIPs(i)[0] ?? '')
  t.match(ip1, /^10\.123\.7\./)
  t.match(ip2, /^10\.123\.7\./)
  const p12 = b.berth(['exec', 'a1', '--', 'ping', '-c', '1', '-W', '3', ip2 as string])
  t.equal(p12.status, 0, `a1 pings a2: ${p12.stdout}${p12.stderr}`)
  const p21 = b.berth(['exec', 'a2', '--', 'ping', '-c', '1', '-W', '3', ip1 as string])
  t.equal(p21.status, 0, `a2 pings a1: ${p21.stdout}${p21.stderr}`)

  const rm = b.berth(['rm', '-f', 'a1', 'a2'])
  t.equal(rm.status, 0, rm.stderr)
  t.equal(rm.stdout, 'a1\na2\n')
  t.same(b.leftovers({ ips: [ip1 as string, ip2 as string], ids: insp.map((i) => i.id) }), [])
  t.equal(b.berth(['net', 'rm', 'appnet']).status, 0, 'the network can go once no container uses it')
})

t.test('a macvlan network: the container is on the uplink\'s segment and reaches the outside; --mac; rm leaves nothing', { skip: skip || needsBuiltBin('macvlan', BIN_DIR) }, async (t) => {
  const b = await createBerthHost(t)
  // A subnet of the uplink's segment that the outside also has an address in.
  b.outside.exec('ip', ['addr', 'add', '10.123.20.254/24', 'dev', 'out0'])
  const net = b.berth(['net', 'create', 'lan', '--driver', 'macvlan', '--parent', b.uplink, '--subnet', '10.123.20.0/24', '--gateway', '10.123.20.254'])
  t.equal(net.status, 0, net.stderr)
  const r = b.berth(['run', '-d', '--name', 'm1', '--net', 'lan', '--mac', '02:00:00:12:20:01', '--', 'sleep', '1000'])
  t.equal(r.status, 0, r.stderr)
  const insp = JSON.parse(b.berth(['inspect', 'm1']).stdout) as Inspect
  const ip = containerIPs(insp)[0] ?? ''
  t.match(ip, /^10\.123\.20\./)
  const link = b.berth(['exec', 'm1', '--', 'ip', '-d', '-o', 'link', 'show', 'eth0'])
  t.match(link.stdout, /link\/ether 02:00:00:12:20:01 .*macvlan mode bridge/, 'eth0 is a macvlan with the MAC asked for')
  const out = b.berth(['exec', 'm1', '--', 'ping', '-c', '1', '-W', '3', '10.123.20.254'])
  t.equal(out.status, 0, `the container pings the outside: ${out.stdout}${out.stderr}`)
  t.ok(b.outside.exec('ping', ['-c', '1', '-W', '3', ip]).includes('1 received'), 'the outside pings the container')
  const pub = b.berth(['run', '--net', 'lan', '-p', '8080:80', '--', 'true'])
  t.match(pub.stderr, /none of the networks lan can publish ports/, '-p is refused: nothing publishes on a macvlan network')
  const rm = b.berth(['rm', '-f', 'm1'])
  t.equal(rm.status, 0, rm.stderr)
  t.same(b.leftovers({ ips: [ip], ids: [insp.id] }), [])
  t.equal(b.berth(['net', 'rm', 'lan']).status, 0)
})

t.test('--net host sees the host namespace interfaces', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const r = b.berth(['run', '--net', 'host', '--', 'ip', '-j', 'link'])
  t.equal(r.status, 0, r.stderr)
  const names = (JSON.parse(r.stdout) as Link[]).map((l) => l.ifname)
  t.ok(names.includes(b.uplink), `the host's uplink ${b.uplink} is visible: ${names.join(',')}`)
  t.same(b.leftovers(), [])
})

t.test('--net none has only a loopback interface, up', { skip }, async (t) => {
  const b = await createBerthHost(t)
  const r = b.berth(['run', '--net', 'none', '--hostname', 'lonely', '--', 'sh', '-c', 'hostname; ip -j link'])
  t.equal(r.status, 0, r.stderr)
  const [hn, json] = r.stdout.split('\n')
  t.equal(hn, 'lonely', '--hostname is set inside')
  const links = JSON.parse(json ?? '[]') as Link[]
  t.same(links.map((l) => l.ifname), ['lo'])
  t.ok(links[0]?.flags.includes('UP'), 'lo is up')
  t.same(b.leftovers(), [])
})

t.test('two --net attach eth0 and eth1; teardown removes both', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['net', 'create', 'n1', '--subnet', '10.123.8.0/24']).status, 0)
  t.equal(b.berth(['net', 'create', 'n2', '--subnet', '10.123.9.0/24', '--internal']).status, 0)
  const r = b.berth(['run', '--net', 'n1', '--net', 'n2', '--', 'ip', '-o', '-4', 'addr'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /eth0\s+inet 10\.123\.8\.\d+\/24/)
  t.match(r.stdout, /eth1\s+inet 10\.123\.9\.\d+\/24/)
  t.same(b.leftovers(), [], 'the foreground run removed everything when the command ended')
})

t.test('--ip and --mac fix eth0 on the first network; refused where they cannot apply', { skip }, async (t) => {
  const b = await createBerthHost(t)
  t.equal(b.berth(['net', 'create', 'fixed', '--subnet', '10.123.12.0/24']).status, 0)
  const r = b.berth(['run', '--net', 'fixed', '--ip', '10.123.12.77', '--mac', '02:00:00:12:00:77', '--', 'ip', '-o', 'addr', 'show', 'eth0'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /inet 10\.123\.12\.77\/24/)
  const link = b.berth(['run', '--net', 'fixed', '--ip', '10.123.12.77', '--mac', '02:00:00:12:00:77', '--', 'ip', '-o', 'link', 'show', 'eth0'])
  t.equal(link.status, 0, `the address is free again after the first run ended: ${link.stderr}`)
  t.match(link.stdout, /link\/ether 02:00:00:12:00:77 /, 'the MAC is set')
  t.match(b.berth(['run', '--net', 'none', '--ip', '10.1.1.1', '--', 'true']).stderr, /--ip need a CNI network, not --net none/)
  t.match(b.berth(['run', '--net', 'fixed', '--ip', '10.1.1', '--', 'true']).stderr, /invalid --ip "10\.1\.1"/)
  t.match(b.berth(['run', '--net', 'fixed', '--mac', '01:00:00:00:00:01', '--', 'true']).stderr, /invalid --mac .*unicast/)
  const outside = b.berth(['run', '--net', 'fixed', '--ip', '10.9.9.9', '--', 'true'])
  t.equal(outside.status, 1, 'an address outside the network fails in IPAM')
  t.match(outside.stderr, /cannot attach network fixed \(eth0\)/)
  t.same(b.leftovers(), [])
})

t.test('dual-stack network: -p [::]:PORT publishes over IPv6, reachable from another namespace', { skip }, async (t) => {
  const b = await createBerthHost(t)
  b.host.exec('ip', ['-6', 'addr', 'add', 'fd00:192::1/64', 'dev', b.uplink, 'nodad'])
  b.outside.exec('ip', ['-6', 'addr', 'add', 'fd00:192::2/64', 'dev', 'out0', 'nodad'])
  t.equal(b.berth(['net', 'create', 'ds', '--subnet', '10.123.14.0/24', '--subnet', 'fd00:123:14::/64']).status, 0)
  const run = b.berth(['run', '-d', '--name', 'v6', '--net', 'ds', '-p', '[::]:18095:80', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'])
  t.equal(run.status, 0, run.stderr)
  const insp = JSON.parse(b.berth(['inspect', 'v6']).stdout) as Inspect & { ports: unknown[] }
  t.same(insp.ports, [{ hostPort: 18095, containerPort: 80, protocol: 'tcp', hostIP: '::' }])
  const ips = containerIPs(insp)
  t.ok(ips.some((a) => a.startsWith('fd00:123:14::')), `an IPv6 address: ${ips.join(',')}`)
  const code = b.outside.exec('curl', ['-s', '-g', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', 'http://[fd00:192::1]:18095/hostname'])
  t.equal(code, '200', 'served over IPv6 through the published port')
  t.equal(b.berth(['rm', '-f', 'v6']).status, 0)
  t.same(b.leftovers({ ips, ids: [insp.id], ports: [18095] }), [])
})
