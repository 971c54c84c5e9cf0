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
