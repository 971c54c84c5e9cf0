// The file lease store across processes: racing allocations never collide, exhaustion under a race, and the
// watch (joins, leaves, expiry; renewals stay silent).
import t from 'tap'
import { FileLeaseStore } from '../../../pkg/overlay/file-store.js'
import type { Lease } from '../../../pkg/overlay/store.js'
import { raceAcquire } from './fixtures/race.js'
import { watchQueue } from './fixtures/watch-queue.js'

const mac = (n: number) => `02:00:00:00:01:${n.toString(16).padStart(2, '0')}`
const req = (n: number, ttlMs = 60_000) => ({ network: 'ov', hostId: `host${n}`, publicIp: `192.168.50.${n}`, vtepMac: mac(n), ttlMs })

t.test('processes racing for leases never get the same subnet', async (t) => {
  const path = t.testdir()
  await new FileLeaseStore({ path }).registerNetwork({ network: 'ov', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1 })
  const results = await raceAcquire({ type: 'file', path }, 'ov', 4, 5)
  t.equal(results.length, 20)
  t.same(results.filter((r) => r.subnet === undefined), [], 'every host got a lease')
  t.equal(new Set(results.map((r) => r.subnet)).size, 20, 'all subnets distinct')
  const listed = await new FileLeaseStore({ path }).list('ov')
  t.same(listed.map((l) => `${l.hostId} ${l.subnet}`).sort(), results.map((r) => `${r.hostId} ${r.subnet}`).sort(), 'the store agrees')
})

t.test('a race for more subnets than exist: each subnet once, the rest code 100', async (t) => {
  const path = t.testdir()
  await new FileLeaseStore({ path }).registerNetwork({ network: 'ov', clusterCidr: '10.9.0.0/27', subnetLen: 30, vni: 1 })
  const results = await raceAcquire({ type: 'file', path }, 'ov', 4, 3)
  const won = results.filter((r) => r.subnet !== undefined)
  t.equal(won.length, 8, '8 /30s in a /27')
  t.equal(new Set(won.map((r) => r.subnet)).size, 8, 'distinct')
  const lost = results.filter((r) => r.subnet === undefined)
  t.equal(lost.length, 4)
  for (const r of lost) t.match(r, { code: 100, message: /^every \/30 of 10\.9\.0\.0\/27 is leased/ })
})

t.test('watch: the initial list, joins and leaves, expiry noticed without any write; renewals are silent', async (t) => {
  const path = t.testdir()
  const a = new FileLeaseStore({ path })
  const b = new FileLeaseStore({ path }) // another host's view of the same directory
  await a.registerNetwork({ network: 'ov', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1 })
  const l1 = await a.acquire(req(1))
  const q = watchQueue(t, b, 'ov')
  t.same(hosts(await q.next()), ['host1'], 'initial list')
  const l2 = await a.acquire(req(2))
  t.same(hosts(await q.next()), ['host1', 'host2'], 'a join')
  await a.renew(l1, 60_000)
  await a.renew(l2, 60_000)
  await a.acquire({ ...req(1), publicIp: '192.168.50.1' }) // same data: a renewal too
  await a.acquire(req(3, 1000)) // expires on its own in a second
  t.same(hosts(await q.next()), ['host1', 'host2', 'host3'], 'the next event is the join; the renewals fired nothing')
  t.same(hosts(await q.next()), ['host1', 'host2'], 'expiry noticed with no write to the store')
  await a.acquire({ ...req(2), vtepMac: '02:00:00:00:01:99' })
  const changed = await q.next()
  t.equal(changed.find((l) => l.hostId === 'host2')?.vtepMac, '02:00:00:00:01:99', 'a changed VTEP MAC fires')
  await a.release('ov', 'host1')
  t.same(hosts(await q.next()), ['host2'], 'a leave')
  q.close()
  t.equal(q.errors.length, 0, 'no watch errors')
})

const hosts = (leases: Lease[]) => leases.map((l) => l.hostId).sort()
