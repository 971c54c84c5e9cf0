// Lease names, request validation, decoding of stored text, and the change test the watches use.
import t from 'tap'
import { CniCode } from '../../../pkg/errors/cni-error.js'
import { checkAcquireRequest, checkHostId, checkNetworkName, decodeLease, encodeLease, leaseFor, leaseSetKey, liveSorted, LeaseLostError } from '../../../pkg/overlay/lease.js'
import type { AcquireRequest, Lease } from '../../../pkg/overlay/store.js'

const req = (over: Partial<AcquireRequest> = {}): AcquireRequest => ({ network: 'ov', hostId: 'host1', publicIp: '192.168.50.2', vtepMac: 'AA:bb:cc:dd:ee:01', ttlMs: 10_000, ...over })

t.test('names that could leave the store directory or the key prefix are code 7', async (t) => {
  for (const bad of ['', '..', '../etc', 'a/b', '.hidden', '-x', 'a b', 'a\0b', 'x'.repeat(254), 'é']) {
    t.throws(() => checkNetworkName(bad), { code: CniCode.InvalidConfig, message: /invalid overlay network name/ }, JSON.stringify(bad))
    t.throws(() => checkHostId(bad), { code: CniCode.InvalidConfig, message: /invalid overlay host ID/ }, JSON.stringify(bad))
  }
  for (const good of ['ov', 'my-net.1', 'host_3', 'a'.repeat(253), '9', '192.168.50.2']) {
    t.doesNotThrow(() => checkNetworkName(good))
    t.doesNotThrow(() => checkHostId(good))
  }
  t.doesNotThrow(() => checkHostId('fd00::2'), 'an IPv6 underlay address is a host ID')
  t.throws(() => checkNetworkName('fd00::2'), { code: 7 }, 'but not a network name')
})

t.test('acquire requests: underlay IP, VTEP MAC, TTL', async (t) => {
  t.doesNotThrow(() => checkAcquireRequest(req()))
  t.doesNotThrow(() => checkAcquireRequest(req({ publicIp: 'fd00::2' })), 'IPv6 underlay')
  t.throws(() => checkAcquireRequest(req({ publicIp: '192.168.50.2/24' })), { code: 7, message: /invalid underlay \(public\) IP/ })
  t.throws(() => checkAcquireRequest(req({ publicIp: 'host' })), { code: 7 })
  t.throws(() => checkAcquireRequest(req({ vtepMac: 'aa:bb:cc:dd:ee' })), { code: 7, message: /invalid VTEP MAC/ })
  t.throws(() => checkAcquireRequest(req({ ttlMs: 999 })), { code: 7, message: /invalid lease TTL 999 ms/ })
  t.throws(() => checkAcquireRequest(req({ ttlMs: 1500.5 })), { code: 7 })
  t.throws(() => checkAcquireRequest(req({ hostId: '../x' })), { code: 7 })
  const lease = leaseFor(req({ directRoutingOk: true }), '10.244.3.0/24', 1000)
  t.same(lease, { network: 'ov', subnet: '10.244.3.0/24', hostId: 'host1', publicIp: '192.168.50.2', vtepMac: 'aa:bb:cc:dd:ee:01', expiresAt: 11_000, directRoutingOk: true })
  t.notOk('directRoutingOk' in leaseFor(req(), '10.244.3.0/24', 0), 'absent stays absent')
})

t.test('decodeLease accepts what encodeLease wrote and nothing malformed', async (t) => {
  const lease = leaseFor(req(), '10.244.3.0/24', 5)
  t.same(decodeLease(encodeLease(lease)), lease)
  t.same(decodeLease(encodeLease({ ...lease, directRoutingOk: false })), { ...lease, directRoutingOk: false })
  const broken = ['', '{', 'null', '[]', '"x"', JSON.stringify({ ...lease, expiresAt: '5' }), JSON.stringify({ ...lease, hostId: '../x' }),
    JSON.stringify({ ...lease, subnet: 'fd00::/64' }), JSON.stringify({ ...lease, subnet: 'nope' }), JSON.stringify({ ...lease, directRoutingOk: 'yes' }), JSON.stringify({ ...lease, network: undefined })]
  for (const b of broken) t.equal(decodeLease(b), undefined, b)
})

t.test('leaseSetKey ignores expiry only; liveSorted drops the expired and orders numerically', async (t) => {
  const a: Lease = leaseFor(req(), '10.244.9.0/24', 0)
  const b: Lease = leaseFor(req({ hostId: 'host2', vtepMac: 'aa:bb:cc:dd:ee:02' }), '10.244.10.0/24', 0)
  t.equal(leaseSetKey([a, b]), leaseSetKey([{ ...a, expiresAt: 99 }, { ...b, expiresAt: 1e12 }]), 'renewals do not change the key')
  t.not(leaseSetKey([a, b]), leaseSetKey([a, { ...b, publicIp: '192.168.50.9' }]))
  t.not(leaseSetKey([a, b]), leaseSetKey([a, { ...b, vtepMac: 'aa:bb:cc:dd:ee:09' }]))
  t.not(leaseSetKey([a, b]), leaseSetKey([a, { ...b, directRoutingOk: true }]))
  t.not(leaseSetKey([a, b]), leaseSetKey([a]))
  const c = { ...a, subnet: '10.244.100.0/24', hostId: 'host3', expiresAt: 50 }
  t.same(liveSorted([c, b, a], 0).map((l) => l.subnet), ['10.244.9.0/24', '10.244.10.0/24', '10.244.100.0/24'])
  t.same(liveSorted([c, b, a], 50).map((l) => l.hostId), ['host1', 'host2'], 'expiresAt == now is expired')
})

t.test('LeaseLostError is a CniError 11 that says to acquire again', async (t) => {
  const e = new LeaseLostError('ov', 'host1', '10.244.3.0/24')
  t.equal(e.code, CniCode.TryAgainLater)
  t.match(e.message, /lease of host host1 on 10\.244\.3\.0\/24 of network ov was lost .*acquire a new one/)
})
