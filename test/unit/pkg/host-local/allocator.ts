// The allocator over the in-memory store (the reference's FakeStore idea); disk-store.ts runs the same
// decisions against real files.
import t from 'tap'
import { formatIp, parseIp } from '../../../../pkg/ip/cidr.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { parseHostLocalConfig } from '../../../../pkg/host-local/config.js'
import { allocate, collect, findOwned, ipConfigOf, releaseEarlierBoots, releaseOwner } from '../../../../pkg/host-local/allocator.js'
import { MemoryStore } from '../../../../pkg/host-local/memory-store.js'
import type { RangeSet } from '../../../../pkg/host-local/range-set.js'

const set = (...ranges: Record<string, string>[]): RangeSet =>
  parseHostLocalConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'x', ipam: { type: 'host-local', ranges: [ranges] } }))).rangeSets[0] as RangeSet
const owner = (containerId: string, ifName = 'eth0') => ({ containerId, ifName })
const get = (store: MemoryStore, s: RangeSet, id: string, extra: { requested?: string; ifName?: string; index?: number } = {}) =>
  formatIp(
    allocate(store, {
      set: s,
      index: extra.index ?? 0,
      owner: owner(id, extra.ifName),
      network: 'n',
      ...(extra.requested === undefined ? {} : { requested: parseIp(extra.requested) }),
    }).ip.bytes,
  )

t.test('hands out addresses in order, resuming after the last reserved one', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: '10.0.0.0/29' })
  t.same(['a', 'b', 'c'].map((id) => get(store, s, id)), ['10.0.0.2', '10.0.0.3', '10.0.0.4'])
  releaseOwner(store, owner('a'))
  // .2 is free again, but round robin goes on from .4.
  t.equal(get(store, s, 'd'), '10.0.0.5')
  t.equal(formatIp(store.lastReserved(0)?.bytes ?? new Uint8Array()), '10.0.0.5')
})

t.test('wraps around and skips taken addresses; exhaustion is code 100 naming the range', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: '10.0.0.0/29' })
  store.setLastReserved(0, parseIp('10.0.0.5'))
  t.same(['a', 'b'].map((id) => get(store, s, id)), ['10.0.0.6', '10.0.0.2'])
  t.same(['c', 'd', 'e'].map((id) => get(store, s, id)), ['10.0.0.3', '10.0.0.4', '10.0.0.5'])
  t.throws(() => get(store, s, 'f'), { name: 'CniError', code: 100, message: 'no IP addresses available in range set 10.0.0.1-10.0.0.6 of network n' })
  releaseOwner(store, owner('c'))
  t.equal(get(store, s, 'f'), '10.0.0.3')
})

t.test('requested addresses', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: '10.0.0.0/24' })
  t.equal(get(store, s, 'a', { requested: '10.0.0.77' }), '10.0.0.77')
  // The same attachment asking again gets it again (a retried ADD); anyone else is refused, naming the owner.
  t.equal(get(store, s, 'a', { requested: '10.0.0.77' }), '10.0.0.77')
  t.throws(() => get(store, s, 'b', { requested: '10.0.0.77' }), { code: 101, message: 'requested IP 10.0.0.77 in network n is already reserved by container a (interface eth0)' })
  t.throws(() => get(store, s, 'b', { requested: '10.0.0.1' }), { code: 7, message: 'requested IP 10.0.0.1 is the gateway of subnet 10.0.0.0/24' })
  t.throws(() => get(store, s, 'b', { requested: '10.0.1.1' }), { code: 7, message: /not in range set 10\.0\.0\.1-10\.0\.0\.254/ })
  // Round robin continues after the requested address.
  t.equal(get(store, s, 'c'), '10.0.0.78')
})

t.test('a second ADD for one attachment is refused; another ifname of the same container is not', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: '10.0.0.0/24' })
  get(store, s, 'a')
  t.throws(() => get(store, s, 'a'), { code: 101, message: '10.0.0.2 in network n is already allocated to container a (interface eth0); duplicate allocation is not allowed' })
  t.equal(get(store, s, 'a', { ifName: 'net1' }), '10.0.0.3')
})

t.test('an own reservation from an earlier boot is replaced, not refused', async (t) => {
  const store = new MemoryStore('boot-2')
  const s = set({ subnet: '10.0.0.0/24' })
  store.put({ ip: parseIp('10.0.0.9'), containerId: 'a', ifName: 'eth0', bootId: 'boot-1' })
  t.equal(get(store, s, 'a'), '10.0.0.2')
  t.equal(store.get(parseIp('10.0.0.9')), undefined)
  // A requested address held in an earlier boot (by anyone) is taken over, with this boot recorded.
  store.put({ ip: parseIp('10.0.0.20'), containerId: 'a', ifName: 'eth0', bootId: 'boot-1' })
  store.put({ ip: parseIp('10.0.0.21'), containerId: 'z', ifName: 'eth0', bootId: 'boot-1' })
  t.equal(get(store, s, 'x', { requested: '10.0.0.20' }), '10.0.0.20')
  t.equal(get(store, s, 'y', { requested: '10.0.0.21' }), '10.0.0.21')
  t.same(store.get(parseIp('10.0.0.20')), { ip: parseIp('10.0.0.20'), containerId: 'x', ifName: 'eth0', bootId: 'boot-2' })
  // Unknown boot (the reference's files): kept, and still a duplicate.
  store.put({ ip: parseIp('10.0.0.10'), containerId: 'b', ifName: 'eth0', bootId: undefined })
  t.throws(() => get(store, s, 'b'), { code: 101 })
})

t.test('release by container ID and ifname; legacy ID-only reservations as a fallback', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: '10.0.0.0/24' })
  get(store, s, 'a')
  get(store, s, 'a', { ifName: 'net1' })
  store.put({ ip: parseIp('10.0.0.50'), containerId: 'a', ifName: undefined, bootId: undefined })
  t.same(releaseOwner(store, owner('a')).map((ip) => formatIp(ip.bytes)), ['10.0.0.2'])
  t.same(releaseOwner(store, owner('a')).map((ip) => formatIp(ip.bytes)), ['10.0.0.50'], 'legacy only once nothing exact is left')
  t.same(releaseOwner(store, owner('a')), [], 'idempotent')
  t.same(findOwned(store, s, owner('a', 'net1')).map((r) => formatIp(r.ip.bytes)), ['10.0.0.3'])
  t.same(findOwned(store, s, owner('a')), [])
})

t.test('result entries carry the prefix and the gateway', async (t) => {
  const store = new MemoryStore()
  const s = set({ subnet: 'fd00::/64', gateway: 'fd00::fe' })
  const a = allocate(store, { set: s, index: 1, owner: owner('x'), network: 'n' })
  t.same(ipConfigOf(a), { address: 'fd00::1/64', gateway: 'fd00::fe' })
  t.equal(formatIp(store.lastReserved(1)?.bytes ?? new Uint8Array()), 'fd00::1')
})

t.test('GC releases what is not valid and what an earlier boot left; legacy files by container ID', async (t) => {
  const store = new MemoryStore('boot-2')
  const put = (ip: string, containerId: string, ifName: string | undefined, bootId: string | undefined) => store.put({ ip: parseIp(ip), containerId, ifName, bootId })
  put('10.0.0.2', 'keep', 'eth0', 'boot-2')
  put('10.0.0.3', 'keep', 'net1', 'boot-2') // same container, other interface: not listed
  put('10.0.0.4', 'gone', 'eth0', undefined)
  put('10.0.0.5', 'keep', undefined, undefined) // legacy: its container is still valid
  put('10.0.0.6', 'old', undefined, undefined)
  put('10.0.0.7', 'rebooted', 'eth0', 'boot-1')
  const released = collect(store, [
    { containerID: 'keep', ifname: 'eth0' },
    { containerID: 'rebooted', ifname: 'eth0' },
  ]).map((ip) => formatIp(ip.bytes))
  t.same(released.sort(), ['10.0.0.3', '10.0.0.4', '10.0.0.6', '10.0.0.7'])
  t.same(store.list().map((r) => formatIp(r.ip.bytes)).sort(), ['10.0.0.2', '10.0.0.5'])
  t.same(collect(store, []).length, 2, 'an empty list means nothing is valid')
})

t.test('releaseEarlierBoots leaves unknown and current boots alone', async (t) => {
  const store = new MemoryStore('boot-2')
  store.put({ ip: parseIp('10.0.0.2'), containerId: 'a', ifName: 'eth0', bootId: 'boot-1' })
  store.put({ ip: parseIp('10.0.0.3'), containerId: 'b', ifName: 'eth0', bootId: 'boot-2' })
  store.put({ ip: parseIp('10.0.0.4'), containerId: 'c', ifName: 'eth0', bootId: undefined })
  t.same(releaseEarlierBoots(store).map((ip) => formatIp(ip.bytes)), ['10.0.0.2'])
  const unknownBoot = new MemoryStore(null)
  unknownBoot.put({ ip: parseIp('10.0.0.2'), containerId: 'a', ifName: 'eth0', bootId: 'boot-1' })
  t.same(releaseEarlierBoots(unknownBoot), [], 'no current boot ID: nothing is known to be old')
})
