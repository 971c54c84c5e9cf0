// -p parsing: the forms Docker accepts (docker/go-connections nat.ParsePortSpec and its tests) give the
// same mappings; the forms it rejects fail with one line that says what is wrong and how to write it.
import t from 'tap'
import { CliError } from '../../../runtime-min/cli-error.js'
import { createSocket } from 'node:dgram'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { PortmapState, type OwnerRecord } from '../../../plugins/portmap/records.js'
import { portmapOwner, type Entry } from '../../../plugins/portmap/plan.js'
import {
  choosesPorts,
  formatPortMapping,
  probePort,
  publishedIn,
  rechooseHostPorts,
  resolveHostPorts,
  type PortChecks,
  type PortProbe,
} from '../../../runtime-min/container/host-ports.js'
import { parsePortRange, parsePortSpec, parsePortSpecs, type PortSpec } from '../../../runtime-min/container/port-spec.js'

const one = (start: number, end = start) => ({ start, end })
const spec = (hostIP: string, hostPorts: { start: number; end: number } | undefined, containerPort: number, protocol: PortSpec['protocol'] = 'tcp'): PortSpec => ({
  hostIP,
  hostPorts,
  containerPort,
  protocol,
})

const accepted: [string, PortSpec[]][] = [
  ['80', [spec('', undefined, 80)]],
  ['8080:80', [spec('', one(8080), 80)]],
  ['8080:80/tcp', [spec('', one(8080), 80)]],
  ['8080:80/', [spec('', one(8080), 80)]],
  ['5353:53/udp', [spec('', one(5353), 53, 'udp')]],
  ['5353:53/UDP', [spec('', one(5353), 53, 'udp')]],
  ['9000:9000/sctp', [spec('', one(9000), 9000, 'sctp')]],
  ['127.0.0.1:8080:80', [spec('127.0.0.1', one(8080), 80)]],
  ['192.168.1.100::80', [spec('192.168.1.100', undefined, 80)]],
  ['192.168.1.100::6000/udp', [spec('192.168.1.100', undefined, 6000, 'udp')]],
  ['0:80', [spec('', undefined, 80)]],
  ['0123:80', [spec('', one(123), 80)]],
  ['65535:65535', [spec('', one(65535), 65535)]],
  ['8000-8010:80', [spec('', one(8000, 8010), 80)]],
  ['1234-1236/tcp', [spec('', undefined, 1234), spec('', undefined, 1235), spec('', undefined, 1236)]],
  ['0.0.0.0:1234-1235:3333-3334/tcp', [spec('0.0.0.0', one(1234), 3333), spec('0.0.0.0', one(1235), 3334)]],
  ['1234-1234:80-80', [spec('', one(1234), 80)]],
  ['[::1]:80:80', [spec('::1', one(80), 80)]],
  ['[2001:4860:0:2001::68]::333', [spec('2001:4860:0:2001::68', undefined, 333)]],
  ['2001:4860:0:2001::68::333', [spec('2001:4860:0:2001::68', undefined, 333)]],
  ['::1:80:80', [spec('::1', one(80), 80)]],
  ['::::80', [spec('::', undefined, 80)]],
  ['[127.0.0.1]:80:80', [spec('127.0.0.1', one(80), 80)]],
]

for (const [raw, want] of accepted) {
  t.test(`accepts ${raw}`, async (t) => {
    t.same(parsePortSpec(raw), want)
  })
}

const rejected: [string, RegExp][] = [
  ['', /no container port given/],
  ['8080:', /no container port given/],
  ['/udp', /no container port given/],
  ['192.168.1.100', /container port: "192\.168\.1\.100" is not a port number/],
  ['70000:80', /host port: "70000" is not a port number \(0-65535\)/],
  ['8080:65536', /container port: "65536" is not a port number/],
  ['8080:0', /container port 0 is not a port/],
  ['-1:80', /host port: "" is not a port number/],
  ['192.168.1.100:-1:-1', /container port: "" is not a port number/],
  ['+80:80', /host port: "\+80" is not a port number/],
  ['8080:80/icmp', /unknown protocol "icmp"/],
  ['8080:80/tcp/udp', /unknown protocol "tcp\/udp"/],
  ['localhost:8080:80', /host IP "localhost" is not an IPv4 or IPv6 address/],
  ['1.2.3:8080:80', /host IP "1\.2\.3" is not/],
  ['[::1:8080:80', /unbalanced brackets/],
  ['fe80::1%eth0:8080:80', /is not an IPv4 or IPv6 address/],
  ['8010-8000:80', /range 8010-8000 ends before it starts/],
  ['8000-8001:80-82', /host range 8000-8001 and container range 80-82 differ in length/],
  ['80-81-82', /"81-82" is not a port number/],
  ['a:80', /host port: "a" is not a port number/],
]

for (const [raw, msg] of rejected) {
  t.test(`rejects ${JSON.stringify(raw)}`, async (t) => {
    t.throws(() => parsePortSpec(raw), CliError)
    try {
      parsePortSpec(raw)
    } catch (e) {
      const m = (e as Error).message
      t.match(m, msg)
      t.match(m, /^invalid port mapping ".*": .*; use \[HOSTIP:\]HOSTPORT/, 'says how to write it')
      t.notOk(m.includes('\n'), 'one line')
    }
  })
}

t.test('parsePortRange', async (t) => {
  t.same(parsePortRange('1234'), one(1234))
  t.same(parsePortRange('1234-1235'), one(1234, 1235))
  t.equal(parsePortRange(''), 'empty port')
})

t.test('the same host port twice is refused; different protocols or addresses are fine', async (t) => {
  t.throws(() => parsePortSpecs(['8080:80', '8080:81']), /host port 8080\/tcp is published twice/)
  t.throws(() => parsePortSpecs(['127.0.0.1:8080-8081:80-81', '127.0.0.1:8081:90']), /127\.0\.0\.1:8081\/tcp is published twice/)
  t.equal(parsePortSpecs(['8080:80', '8080:80/udp', '127.0.0.1:8080:80']).length, 3)
})

t.test('resolveHostPorts: fixed ports pass through, ranges and ephemeral ports are probed', async (t) => {
  const probed: string[] = []
  const busy = new Set([8000, 8001])
  const probe: PortProbe = async (proto, ip, port) => {
    probed.push(`${proto} ${ip} ${port}`)
    return !busy.has(port)
  }
  const maps = await resolveHostPorts(parsePortSpecs(['8080:80', '127.0.0.1:8000-8005:81/udp', '127.0.0.1:8002:82/udp', '90']), { probe, published: () => false })
  t.same(maps.slice(0, 3), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8003, containerPort: 81, protocol: 'udp', hostIP: '127.0.0.1' },
    { hostPort: 8002, containerPort: 82, protocol: 'udp', hostIP: '127.0.0.1' },
  ])
  t.same(probed.slice(0, 3), ['udp 127.0.0.1 8000', 'udp 127.0.0.1 8001', 'udp 127.0.0.1 8003'], 'range probed in order, skipping the port another spec holds')
  const eph = maps[3]
  t.ok(eph !== undefined && eph.hostPort > 0 && eph.containerPort === 90, 'ephemeral port chosen')
  await t.rejects(resolveHostPorts(parsePortSpecs(['8000-8001:80']), { probe, published: () => false }), /no free host port in 8000-8001\/tcp/)
})

t.test('formatPortMapping', async (t) => {
  t.equal(formatPortMapping({ hostPort: 8080, containerPort: 80, protocol: 'tcp' }), '8080->80/tcp')
  t.equal(formatPortMapping({ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::1' }), '[::1]:53->53/udp')
})

// portmap's records in a test directory, for this process's namespace
const entry = (o: Partial<Entry>): Entry => ({ family: 4, hostIP: undefined, protocol: 'tcp', hostPort: 9000, hostPortEnd: 9000, containerIP: '10.0.0.5', containerPort: 80, ...o })
const record = (id: string, entries: Entry[]): OwnerRecord => {
  const o = portmapOwner('net1', id, 'eth0')
  return { version: 1, tag: o.tag, netTag: o.netTag, comment: o.comment, backend: 'nftables', entries, elements: [], hairpin: [] }
}

t.test('publishedIn: portmap reservation records, by protocol, address and family; stale ones do not count', async (t) => {
  const root = t.testdir()
  const published = publishedIn({ root, nsPath: '/proc/self/ns/net' })
  t.notOk(published('tcp', '', 9000), 'no records yet: nothing is published')
  t.same(readdirSync(root), [], '... and reading created nothing')
  const s = PortmapState.open(root, '/proc/self/ns/net')
  s.record(record('a', [entry({}), entry({ hostIP: '10.99.0.1', hostPort: 9005, hostPortEnd: 9007 }), entry({ family: 6, hostIP: 'fd99::1', hostPort: 9100, hostPortEnd: 9100 })]))
  t.ok(published('tcp', '', 9000), 'published on every address')
  t.ok(published('tcp', '127.0.0.1', 9000), '... which covers any one address')
  t.ok(published('tcp', '0.0.0.0', 9000), '0.0.0.0 is every address')
  t.notOk(published('udp', '', 9000), 'another protocol is free')
  t.notOk(published('tcp', '', 9001), 'another port is free')
  t.ok(published('tcp', '', 9006), 'a port inside a published range on one address counts for "every address"')
  t.ok(published('tcp', '10.99.0.1', 9006), '... and for that address')
  t.notOk(published('tcp', '10.99.0.2', 9006), '... not for another address')
  t.ok(published('tcp', '', 9100), 'without a host IP, IPv6 records count too')
  t.notOk(published('tcp', '10.99.0.1', 9100), 'an IPv4 host IP ignores IPv6 records')
  t.ok(published('tcp', 'fd99::1', 9100))
  // a reservation whose record is gone: ignored, and left for portmap (under its lock) to remove
  mkdirSync(join(s.dir, 'ports', '4-udp-9200'), { recursive: true })
  writeFileSync(join(s.dir, 'ports', '4-udp-9200', 'any'), 'ffffffffffffffff\n')
  t.notOk(published('udp', '', 9200), 'a reservation without its record is not a publication')
  t.ok(existsSync(join(s.dir, 'ports', '4-udp-9200', 'any')), 'reading removes nothing')
})

t.test('resolveHostPorts: a range takes its first port no container publishes and the host does not use', async (t) => {
  const publishedPorts = new Set([9000, 9003])
  const bound = new Set([9001])
  const asked: string[] = []
  const checks: PortChecks = {
    published: (proto, ip, port) => (asked.push(`published ${proto} ${ip} ${port}`), publishedPorts.has(port)),
    probe: async (proto, ip, port) => (asked.push(`bind ${proto} ${ip} ${port}`), !bound.has(port)),
  }
  t.same(await resolveHostPorts(parsePortSpecs(['9000-9010:80']), checks), [{ hostPort: 9002, containerPort: 80, protocol: 'tcp' }], 'skips a published port and a bound one')
  t.same(asked, ['published tcp  9000', 'published tcp  9001', 'bind tcp  9001', 'published tcp  9002', 'bind tcp  9002'], 'records first, then a bind')
  t.same(await resolveHostPorts(parsePortSpecs(['127.0.0.1:9000-9010:53/udp', '9000-9010:80']), checks), [
    { hostPort: 9002, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    { hostPort: 9002, containerPort: 80, protocol: 'tcp' },
  ], 'each spec by its own protocol and address')
  t.same(await resolveHostPorts(parsePortSpecs(['9000-9010:80', '9000-9010:81']), checks), [
    { hostPort: 9002, containerPort: 80, protocol: 'tcp' },
    { hostPort: 9004, containerPort: 81, protocol: 'tcp' },
  ], 'two ranges of one run do not take the same port')
  t.same(await resolveHostPorts(parsePortSpecs(['9000-9010:80-90']), checks), parsePortSpecs(['9000-9010:80-90']).map((s) => ({ hostPort: s.hostPorts!.start, containerPort: s.containerPort, protocol: 'tcp' })), 'equal-length ranges map one to one, unchecked (portmap refuses a clash)')
  t.same(await resolveHostPorts(parsePortSpecs(['9000:80']), checks), [{ hostPort: 9000, containerPort: 80, protocol: 'tcp' }], 'a fixed port is not checked here')
  await t.rejects(resolveHostPorts(parsePortSpecs(['9000-9001:80']), checks), { message: /^no free host port in 9000-9001\/tcp for container port 80: each is published by a container or in use on the host/ }, 'a full range: the error names it')
  await t.rejects(resolveHostPorts(parsePortSpecs(['[::1]:9000-9001:80/udp']), { ...checks, probe: async () => false }), /no free host port in \[::1\]:9000-9001\/udp/)
  t.same(await resolveHostPorts(parsePortSpecs(['9000-9010:80']), checks, new Set(['|9002/tcp'])), [{ hostPort: 9004, containerPort: 80, protocol: 'tcp' }], 'ports to avoid are skipped')
  t.ok(choosesPorts(parsePortSpecs(['8080:80', '9000-9010:80'])) && choosesPorts(parsePortSpecs(['80'])), 'ranges and ephemeral ports are chosen by berth')
  t.notOk(choosesPorts(parsePortSpecs(['8080:80', '9000-9001:80-81'])), 'fixed ports and equal ranges are not')
})

t.test('rechooseHostPorts: after a refused ADD, moves only the chosen ports that were taken meanwhile', async (t) => {
  const publishedPorts = new Set<string>()
  const checks: PortChecks = { published: (proto, _ip, port) => publishedPorts.has(`${port}/${proto}`), probe: async () => true }
  const specs = parsePortSpecs(['8080:8080', '9000-9010:80', '9000-9010:81/udp'])
  const first = await resolveHostPorts(specs, checks)
  t.same(first.map((m) => m.hostPort), [8080, 9000, 9000])
  const avoid = new Set<string>()
  t.equal(await rechooseHostPorts(specs, first, avoid, checks), undefined, 'nothing chosen was taken: the failure is not a port clash to route around')
  publishedPorts.add('8080/tcp')
  t.equal(await rechooseHostPorts(specs, first, avoid, checks), undefined, 'a fixed port taken is not moved')
  publishedPorts.add('9000/tcp') // a concurrent run published 9000/tcp first
  const second = await rechooseHostPorts(specs, first, avoid, checks)
  t.same(second?.map((m) => m.hostPort), [8080, 9001, 9000], 'the taken one moves to the next port; the UDP one stays')
  t.same([...avoid], ['|9000/tcp'])
  publishedPorts.delete('9000/tcp') // the winner went away again: 9000 stays avoided in this run
  for (let p = 9001; p <= 9010; p++) publishedPorts.add(`${p}/tcp`)
  await t.rejects(rechooseHostPorts(specs, second!, avoid, checks), /no free host port in 9000-9010\/tcp/, 'a used-up range is the clear error')
})

t.test('probePort binds where portmap would publish (TCP and UDP; this namespace)', async (t) => {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen({ port: 0, host: '127.0.0.1' }, r))
  const tcp = (srv.address() as AddressInfo).port
  t.notOk(await probePort('tcp', '', tcp), 'a listener on one address: not free for every address')
  t.notOk(await probePort('tcp', '127.0.0.1', tcp), '... nor for that address')
  t.ok(await probePort('udp', '', tcp), 'UDP is another port')
  await new Promise((r) => srv.close(r))
  t.ok(await probePort('tcp', '', tcp), 'free once closed')

  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind({ port: 0, address: '127.0.0.1' }, r))
  const udp = sock.address().port
  t.notOk(await probePort('udp', '', udp), 'a bound UDP socket')
  t.notOk(await probePort('udp', '127.0.0.1', udp))
  t.ok(await probePort('udp', '127.0.0.2', udp), 'another loopback address is free')
  await new Promise<void>((r) => sock.close(() => r()))
  t.ok(await probePort('udp', '', udp))
  t.ok(await probePort('sctp', '', udp), 'SCTP cannot be probed: left to portmap')
})
