// The etcd lease store against a real etcd started by the test (temp data dir, free ports on 127.0.0.1):
// leases and renewals, TTL expiry, a returning host's subnet, racing clients, registry conflicts, etcd down
// (code 11 naming the endpoint) and back (the watch resumes, leases survive a short outage).
import { createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { CniCode } from '../../../pkg/errors/cni-error.js'
import { EtcdLeaseStore } from '../../../pkg/overlay/etcd-store.js'
import { LeaseLostError } from '../../../pkg/overlay/lease.js'
import { openStore, type AcquireRequest, type Lease, type LeaseStore } from '../../../pkg/overlay/store.js'
import { freePort, needsEtcd, startEtcd, type EtcdServer } from '../../helpers/etcd-server.js'
import { createTestNetns } from '../../helpers/netns.js'
import { needsRoot } from '../../helpers/privileges.js'
import { raceAcquire } from './fixtures/race.js'
import { watchQueue } from './fixtures/watch-queue.js'

const skip = needsEtcd()
const NET = { network: 'ov', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1 }
const mac = (n: number) => `02:00:00:00:02:${n.toString(16).padStart(2, '0')}`
const req = (n: number, over: Partial<AcquireRequest> = {}): AcquireRequest => ({ network: 'ov', hostId: `host${n}`, publicIp: `192.168.60.${n}`, vtepMac: mac(n), ttlMs: 60_000, ...over })
const hosts = (leases: Lease[]) => leases.map((l) => l.hostId).sort()

function client(t: Test, etcd: EtcdServer, prefix = '/berth-test'): LeaseStore {
  const s = openStore({ type: 'etcd', endpoints: [etcd.endpoint], prefix, dialTimeoutMs: 2000 })
  // Registered after the server's teardown, so it runs first (tap runs teardowns in reverse).
  t.teardown(() => s.close())
  return s
}

t.test('leases, renewals, release and registration on etcd', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  const a = client(t, etcd)
  const b = client(t, etcd)
  await a.registerNetwork(NET)
  await b.registerNetwork(NET)
  t.same(await b.getNetwork('ov'), NET)
  await t.rejects(b.registerNetwork({ ...NET, subnetLen: 26 }), { code: 7, message: /network ov is registered with/ })
  await t.rejects(b.registerNetwork({ network: 'two', clusterCidr: '10.244.128.0/17', subnetLen: 24, vni: 2 }), { code: 7, message: /overlaps 10\.244\.0\.0\/16 of network ov/ })
  await b.registerNetwork({ network: 'two', clusterCidr: '10.245.0.0/16', subnetLen: 24, vni: 2 })
  t.same(await a.getNetwork('two'), { network: 'two', clusterCidr: '10.245.0.0/16', subnetLen: 24, vni: 2 })
  await t.rejects(a.acquire(req(1, { network: 'nope' })), { code: 7, message: /overlay network nope is not registered in etcd/ })

  const l1 = await a.acquire(req(1))
  t.match(l1.subnet, /^10\.244\.\d+\.0\/24$/)
  t.equal((await b.acquire(req(1, { publicIp: '192.168.60.101' }))).subnet, l1.subnet, 'acquire again from another client: same subnet')
  const l2 = await b.acquire(req(2))
  t.not(l2.subnet, l1.subnet)
  const listed = await a.list('ov')
  t.same(hosts(listed), ['host1', 'host2'])
  t.equal(listed.find((l) => l.hostId === 'host1')?.publicIp, '192.168.60.101', 'the re-acquire updated the record')
  const r = await b.renew(l1, 30_000)
  t.equal(r.subnet, l1.subnet)
  await a.release('ov', 'host2')
  await a.release('ov', 'host2')
  t.same(hosts(await b.list('ov')), ['host1'], 'released (twice: idempotent)')
  t.ok((await a.renew(l2, 30_000).catch((e: unknown) => e)) instanceof LeaseLostError, 'renewing a released lease: LeaseLostError')
  t.same(await a.list('two'), [], 'networks are separate')
})

t.test('exhaustion is code 100; an expired lease frees its subnet and a returning host gets its own back', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  const s = client(t, etcd)
  await s.registerNetwork({ network: 'ov', clusterCidr: '10.9.0.0/29', subnetLen: 30, vni: 9 })
  const l1 = await s.acquire(req(1, { ttlMs: 2000 }))
  const l2 = await s.acquire(req(2))
  await t.rejects(s.acquire(req(3)), { code: CniCode.AddressesExhausted, message: /^every \/30 of 10\.9\.0\.0\/29 is leased \(2 hosts on network ov\)/ })
  const q = watchQueue(t, s, 'ov')
  t.same(hosts(await q.next()), ['host1', 'host2'])
  t.same(hosts(await q.next()), ['host2'], 'host1 expired (etcd removed the key with its lease)')
  t.equal((await s.acquire(req(1))).subnet, l1.subnet, 'host1 returns to its old subnet')
  t.same(hosts(await q.next()), ['host1', 'host2'])
  await s.release('ov', 'host1')
  t.same(hosts(await q.next()), ['host2'])
  t.equal((await s.acquire(req(3))).subnet, l1.subnet, 'a released subnet goes to a new host')
  t.ok((await s.renew(l1, 5000).catch((e: unknown) => e)) instanceof LeaseLostError, 'host1 lost it')
  t.equal((await s.renew(l2, 5000)).subnet, l2.subnet)
})

t.test('clients racing for leases never get the same subnet', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  await client(t, etcd).registerNetwork(NET)
  await client(t, etcd).registerNetwork({ network: 'tiny', clusterCidr: '10.9.0.0/27', subnetLen: 30, vni: 5 })
  const cfg = { type: 'etcd' as const, endpoints: [etcd.endpoint], prefix: '/berth-test', dialTimeoutMs: 5000 }
  const results = await raceAcquire(cfg, 'ov', 4, 5)
  t.same(results.filter((r) => r.subnet === undefined), [], 'every host got a lease')
  t.equal(new Set(results.map((r) => r.subnet)).size, 20, '20 distinct subnets')
  t.same((await client(t, etcd).list('ov')).map((l) => `${l.hostId} ${l.subnet}`).sort(), results.map((r) => `${r.hostId} ${r.subnet}`).sort(), 'etcd agrees')
  const tiny = await raceAcquire(cfg, 'tiny', 4, 3)
  const won = tiny.filter((r) => r.subnet !== undefined)
  t.equal(won.length, 8, '8 /30s in a /27')
  t.equal(new Set(won.map((r) => r.subnet)).size, 8, 'each once')
  for (const r of tiny.filter((x) => x.subnet === undefined)) t.match(r, { code: 100 })
})

t.test('etcd down: code 11 naming the endpoint; back: the watch resumes and leases survived', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  const s = client(t, etcd)
  await s.registerNetwork(NET)
  await s.acquire(req(1))
  const q = watchQueue(t, s, 'ov')
  t.same(hosts(await q.next()), ['host1'])
  await etcd.stop()
  const started = Date.now()
  const down = await s.acquire(req(2)).catch((e: unknown) => e)
  t.match(down, { code: CniCode.TryAgainLater, message: new RegExp(`^etcd store at ${etcd.endpoint} \\(prefix /berth-test\\) cannot be reached`) }, `rejected after ${Date.now() - started} ms`)
  await t.rejects(s.list('ov'), { code: 11 })
  t.match(await q.nextError(), { code: 11, message: /cannot be reached/ }, 'the watch reports the outage')
  // A closed port, and a listener that accepts and never answers (what a hung or firewalled etcd looks like):
  // code 11 as well, the second bounded by the dial timeout rather than waiting forever.
  const closed = openStore({ type: 'etcd', endpoints: [`http://127.0.0.1:${await freePort()}`], dialTimeoutMs: 500 })
  await t.rejects(closed.registerNetwork(NET), { code: 11, message: /cannot be reached/ })
  await closed.close()
  const silent = await silentListener(t)
  const mute = openStore({ type: 'etcd', endpoints: [silent], dialTimeoutMs: 500 })
  const t0 = Date.now()
  const e = await mute.acquire(req(3)).catch((x: unknown) => x)
  t.match(e, { code: 11, message: new RegExp(`^etcd store at ${silent} .*cannot be reached`) }, `a silent endpoint: code 11 after ${Date.now() - t0} ms (dial timeout 500 ms)`)
  await mute.close()
  await etcd.start()
  const other = client(t, etcd)
  await other.acquire(req(2))
  t.same(hosts(await q.next()), ['host1', 'host2'], 'the watch resumed and saw host2; host1 survived the outage')
  t.equal(q.errors.length, 1, 'the outage was reported once (repeats are throttled)')
})

t.test('several endpoints: calls that meet the dead one go on to the live one', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  const dead = `http://127.0.0.1:${await freePort()}`
  const s = openStore({ type: 'etcd', endpoints: [dead, etcd.endpoint], prefix: '/berth-test', dialTimeoutMs: 1000 })
  t.teardown(() => s.close())
  await s.registerNetwork(NET)
  // etcd3 shuffles the hosts per call: twenty calls meet the dead endpoint first about half the time.
  for (let n = 1; n <= 20; n++) await s.acquire(req(n))
  t.equal((await s.list('ov')).length, 20, 'every call succeeded')
  const alone = openStore({ type: 'etcd', endpoints: [dead], prefix: '/berth-test', dialTimeoutMs: 1000 })
  await t.rejects(alone.list('ov'), { code: 11, message: new RegExp(`^etcd store at ${dead} `) }, 'the dead one alone: code 11')
  await alone.close()
})

t.test('a watch started while etcd is down attaches once etcd is up (no periodic re-list to fall back on)', { skip }, async (t) => {
  const etcd = await startEtcd(t)
  await client(t, etcd).registerNetwork(NET)
  await etcd.stop()
  // resyncMs of an hour: after the first successful list, only etcd's own watch can deliver the join below.
  const s = new EtcdLeaseStore({ endpoints: [etcd.endpoint], prefix: '/berth-test', dialTimeoutMs: 1000, resyncMs: 3600_000 })
  t.teardown(() => s.close())
  const q = watchQueue(t, s, 'ov')
  t.match(await q.nextError(), { code: 11 }, 'the watch says the store is unreachable')
  await etcd.start()
  t.same(await q.next(), [], 'the first list once etcd is up')
  await client(t, etcd).acquire(req(7))
  t.same(hosts(await q.next()), ['host7'], 'the join came through the etcd watch')
})

t.test('etcd in a "switch" namespace serves clients in two "host" namespaces over veths (a rig\'s layout)', { skip: skip || needsRoot() }, async (t) => {
  const sw = await createTestNetns(t)
  const hostsNs = [await createTestNetns(t), await createTestNetns(t)]
  sw.exec('ip', ['link', 'set', 'lo', 'up'])
  for (const [i, h] of hostsNs.entries()) {
    // The veth is made in the switch and its peer moved into the host: nothing touches the machine's namespace.
    sw.exec('ip', ['link', 'add', `sw${i}`, 'type', 'veth', 'peer', 'name', 'up0'])
    sw.exec('ip', ['link', 'set', 'up0', 'netns', h.name])
    sw.exec('ip', ['addr', 'add', `192.0.2.${1 + i * 4}/30`, 'dev', `sw${i}`])
    sw.exec('ip', ['link', 'set', `sw${i}`, 'up'])
    h.exec('ip', ['addr', 'add', `192.0.2.${2 + i * 4}/30`, 'dev', 'up0'])
    h.exec('ip', ['link', 'set', 'up0', 'up'])
    h.exec('ip', ['link', 'set', 'lo', 'up'])
    h.exec('ip', ['route', 'add', 'default', 'via', `192.0.2.${1 + i * 4}`])
  }
  sw.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  const etcd = await startEtcd(t, { host: '192.0.2.1', wrap: ['nsenter', `--net=${sw.path}`, '--'], clientPort: 2379, peerPort: 2380 })
  const cfg = { type: 'etcd' as const, endpoints: [etcd.endpoint], prefix: '/berth-test', dialTimeoutMs: 5000 }
  const results = await raceAcquire(cfg, 'ov', 2, 3, { register: NET, wrap: (p) => ['nsenter', `--net=${hostsNs[p]!.path}`, '--'] })
  t.same(results.filter((r) => r.subnet === undefined), [], 'both hosts registered the network at once and reached etcd on the switch')
  t.equal(new Set(results.map((r) => r.subnet)).size, 6, '6 distinct subnets')
})

/** A TCP listener on 127.0.0.1 that accepts connections and never says a word; closed in teardown. */
async function silentListener(t: Test): Promise<string> {
  const sockets = new Set<Socket>()
  const server = createServer((sock) => {
    sockets.add(sock)
    sock.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const addr = server.address()
  if (typeof addr !== 'object' || addr === null) throw new Error('no address')
  return `http://127.0.0.1:${addr.port}`
}
