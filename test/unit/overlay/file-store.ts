// The file store with an injected clock in a temp directory: allocation, renewal, expiry and reuse, release,
// registration conflicts, bad names. (Concurrent processes and watches: test/integration/overlay/store-file.ts.)
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { CniCode } from '../../../pkg/errors/cni-error.js'
import { FileLeaseStore } from '../../../pkg/overlay/file-store.js'
import { LeaseLostError } from '../../../pkg/overlay/lease.js'
import type { AcquireRequest } from '../../../pkg/overlay/store.js'

const NET = { network: 'ov', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 42 }
const mac = (n: number) => `aa:bb:cc:dd:ee:${n.toString(16).padStart(2, '0')}`
const req = (n: number, over: Partial<AcquireRequest> = {}): AcquireRequest => ({ network: 'ov', hostId: `host${n}`, publicIp: `192.168.50.${n}`, vtepMac: mac(n), ttlMs: 10_000, ...over })

async function setup(t: Test, net = NET) {
  const clock = { now: 1_000_000 }
  const path = t.testdir()
  const store = new FileLeaseStore({ path, now: () => clock.now, lockTimeoutMs: 2000 })
  await store.registerNetwork(net)
  return { store, clock, path }
}

t.test('acquire allocates one subnet per host; acquiring again renews the same subnet', async (t) => {
  const { store, clock, path } = await setup(t)
  const a = await store.acquire(req(1))
  t.match(a.subnet, /^10\.244\.\d+\.0\/24$/)
  t.equal(a.expiresAt, clock.now + 10_000)
  clock.now += 5000
  const again = await store.acquire(req(1, { publicIp: '192.168.50.101' }))
  t.equal(again.subnet, a.subnet, 'same subnet')
  t.equal(again.expiresAt, clock.now + 10_000, 'renewed')
  t.equal(again.publicIp, '192.168.50.101', 'new underlay address recorded')
  const b = await store.acquire(req(2))
  t.not(b.subnet, a.subnet)
  t.same((await store.list('ov')).map((l) => l.hostId).sort(), ['host1', 'host2'])
  t.equal(readdirSync(join(path, 'networks', 'ov')).filter((f) => !f.startsWith('.')).length, 2, 'one file per lease')
  t.same(JSON.parse(readFileSync(join(path, 'networks.json'), 'utf8')), { networks: [NET] })
})

t.test('an exhausted cluster CIDR is code 100; an expired lease frees its subnet', async (t) => {
  const { store, clock } = await setup(t, { network: 'ov', clusterCidr: '10.9.0.0/28', subnetLen: 30, vni: 7 })
  const got = new Map<string, string>()
  for (let n = 1; n <= 4; n++) got.set(`host${n}`, (await store.acquire(req(n))).subnet)
  t.same([...got.values()].sort(), ['10.9.0.0/30', '10.9.0.12/30', '10.9.0.4/30', '10.9.0.8/30'])
  await t.rejects(store.acquire(req(5)), { code: CniCode.AddressesExhausted, message: /^every \/30 of 10\.9\.0\.0\/28 is leased \(4 hosts on network ov\)/ })
  clock.now += 6000
  for (const n of [1, 2, 4]) await store.acquire(req(n)) // everyone renews but host3
  clock.now += 5000
  t.same((await store.list('ov')).map((l) => l.hostId).sort(), ['host1', 'host2', 'host4'], 'host3 expired')
  t.equal((await store.acquire(req(5))).subnet, got.get('host3'), 'host5 gets the only free subnet, host3\'s')
  await t.rejects(store.acquire(req(3)), { code: 100 }, 'host3 came back too late: its subnet was reused')
})

t.test('a host coming back gets its old subnet; new hosts take never-used subnets first', async (t) => {
  const { store, clock } = await setup(t)
  const a = await store.acquire(req(1))
  clock.now += 20_000 // host1 expired, nobody took its subnet yet
  t.same(await store.list('ov'), [])
  for (let n = 2; n <= 20; n++) t.not((await store.acquire(req(n))).subnet, a.subnet, `host${n} avoids host1's old subnet`)
  t.equal((await store.acquire(req(1))).subnet, a.subnet, 'host1 returns to its subnet')
})

t.test('preferSubnet is honoured when free, ignored when taken or not of the network', async (t) => {
  const { store } = await setup(t)
  t.equal((await store.acquire(req(1, { preferSubnet: '10.244.77.0/24' }))).subnet, '10.244.77.0/24')
  t.not((await store.acquire(req(2, { preferSubnet: '10.244.77.0/24' }))).subnet, '10.244.77.0/24')
  t.not((await store.acquire(req(3, { preferSubnet: '10.99.0.0/24' }))).subnet, '10.99.0.0/24')
  t.not((await store.acquire(req(4, { preferSubnet: '10.244.78.0/25' }))).subnet, '10.244.78.0/25')
  t.equal((await store.acquire(req(1, { preferSubnet: '10.244.5.0/24' }))).subnet, '10.244.77.0/24', 'a live lease wins over the preference')
})

t.test('renew extends a lease; a lease taken over or released is lost (code 11)', async (t) => {
  const { store, clock } = await setup(t, { network: 'ov', clusterCidr: '10.9.0.0/29', subnetLen: 30, vni: 7 })
  const a = await store.acquire(req(1))
  await store.acquire(req(3, { ttlMs: 3600_000 })) // holds the other subnet throughout
  clock.now += 9000
  const r = await store.renew(a, 10_000)
  t.equal(r.expiresAt, clock.now + 10_000)
  t.equal(r.subnet, a.subnet)
  clock.now += 15_000
  const late = await store.renew(r, 10_000)
  t.equal(late.subnet, a.subnet, 'expired but still free: renewed')
  clock.now += 15_000
  const b = await store.acquire(req(2)) // the only subnet left, expired, goes to host2
  t.equal(b.subnet, a.subnet)
  const lost: unknown = await store.renew(late, 10_000).catch((e: unknown) => e)
  t.ok(lost instanceof LeaseLostError, 'taken over: LeaseLostError')
  t.match(lost, { code: CniCode.TryAgainLater })
  t.match((lost as Error).message, `the lease of host host1 on ${a.subnet} of network ov was lost`)
  await store.release('ov', 'host2')
  await store.release('ov', 'host2')
  t.pass('release is idempotent')
  t.ok((await store.renew(b, 10_000).catch((e: unknown) => e)) instanceof LeaseLostError, 'released: LeaseLostError')
  t.same((await store.list('ov')).map((l) => l.hostId), ['host3'])
  await t.rejects(store.renew(b, 500), { code: 7, message: /invalid lease TTL/ })
  t.ok((await store.renew({ ...b, hostId: 'host3', subnet: '../../../../etc/x/24' }, 10_000).catch((e: unknown) => e)) instanceof LeaseLostError, 'a subnet that is no CIDR is simply not held')
})

t.test('registration: idempotent, conflicts are code 7; acquire needs a registered network', async (t) => {
  const { store, path } = await setup(t)
  await store.registerNetwork(NET)
  await store.registerNetwork({ network: 'other', clusterCidr: '10.245.0.0/16', subnetLen: 26, vni: 43 })
  t.same(await store.getNetwork('other'), { network: 'other', clusterCidr: '10.245.0.0/16', subnetLen: 26, vni: 43 })
  t.equal(await store.getNetwork('nope'), undefined)
  await t.rejects(store.registerNetwork({ ...NET, subnetLen: 25 }), { code: 7, message: /network ov is registered with/ })
  await t.rejects(store.registerNetwork({ network: 'third', clusterCidr: '10.0.0.0/8', subnetLen: 24, vni: 44 }), { code: 7, message: /overlaps 10\.244\.0\.0\/16 of network ov/ })
  await t.rejects(store.registerNetwork({ network: 'third', clusterCidr: '10.246.0.0/16', subnetLen: 16, vni: 44 }), { code: 7, message: /does not fit/ })
  t.equal(JSON.parse(readFileSync(join(path, 'networks.json'), 'utf8')).networks.length, 2, 'nothing written by the rejected ones')
  await t.rejects(store.acquire(req(1, { network: 'nope' })), { code: 7, message: /overlay network nope is not registered in the file store/ })
  writeFileSync(join(path, 'networks.json'), '{oops')
  await t.rejects(store.getNetwork('ov'), { code: CniCode.DecodingFailure, message: /is not valid JSON/ })
})

t.test('bad names never touch the file system outside the store', async (t) => {
  const { store, path } = await setup(t)
  await t.rejects(store.acquire(req(1, { network: '../escape' })), { code: 7 })
  await t.rejects(store.acquire(req(1, { hostId: 'a/../../b' })), { code: 7 })
  await t.rejects(store.release('..', 'host1'), { code: 7 })
  await t.rejects(store.list('../..'), { code: 7 })
  t.throws(() => store.watch('a/b', () => undefined), { code: 7 })
  await t.rejects(store.registerNetwork({ ...NET, network: '../x' }), { code: 7 })
  t.notOk(existsSync(join(path, '..', 'escape')))
  t.same(readdirSync(path).sort(), ['.networks.lock', 'networks.json'])
})

t.test('a torn or foreign file in the network directory is ignored and its subnet is free', async (t) => {
  const { store, path } = await setup(t, { network: 'ov', clusterCidr: '10.9.0.0/29', subnetLen: 30, vni: 7 })
  const dir = join(path, 'networks', 'ov')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, '10.9.0.0-30'), '{"network": "ov", "sub')
  t.same(await store.list('ov'), [])
  t.equal((await store.acquire(req(1, { preferSubnet: '10.9.0.0/30' }))).subnet, '10.9.0.0/30')
  // A lease stored under another subnet's name is not trusted either.
  const l = (await store.list('ov'))[0]!
  writeFileSync(join(dir, '10.9.0.4-30'), JSON.stringify({ ...l, hostId: 'host9' }))
  t.same((await store.list('ov')).map((x) => x.hostId), ['host1'])
})
