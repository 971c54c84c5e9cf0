// -p parsing: the forms Docker accepts (docker/go-connections nat.ParsePortSpec and its tests) give the
// same mappings; the forms it rejects fail with one line that says what is wrong and how to write it.
import t from 'tap'
import { CliError } from '../../../runtime-min/cli-error.js'
import { formatPortMapping, resolveHostPorts, type PortProbe } from '../../../runtime-min/container/host-ports.js'
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
  const maps = await resolveHostPorts(parsePortSpecs(['8080:80', '127.0.0.1:8000-8005:81/udp', '127.0.0.1:8002:82/udp', '90']), probe)
  t.same(maps.slice(0, 3), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8003, containerPort: 81, protocol: 'udp', hostIP: '127.0.0.1' },
    { hostPort: 8002, containerPort: 82, protocol: 'udp', hostIP: '127.0.0.1' },
  ])
  t.same(probed.slice(0, 3), ['udp 127.0.0.1 8000', 'udp 127.0.0.1 8001', 'udp 127.0.0.1 8003'], 'range probed in order, skipping the port another spec holds')
  const eph = maps[3]
  t.ok(eph !== undefined && eph.hostPort > 0 && eph.containerPort === 90, 'ephemeral port chosen')
  await t.rejects(resolveHostPorts(parsePortSpecs(['8000-8001:80']), probe), /no free host port in 8000-8001\/tcp/)
})

t.test('formatPortMapping', async (t) => {
  t.equal(formatPortMapping({ hostPort: 8080, containerPort: 80, protocol: 'tcp' }), '8080->80/tcp')
  t.equal(formatPortMapping({ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::1' }), '[::1]:53->53/udp')
})
