// Subnet math of a cluster CIDR: validation (code 7), numbering, the free-subnet choice, overlap checks.
import t from 'tap'
import { CniCode } from '../../../pkg/errors/cni-error.js'
import type { NetworkRecord } from '../../../pkg/overlay/store.js'
import { checkAgainstRegistered, cidrsOverlap, exhaustedError, pickSubnet, subnetAt, subnetIndex, subnetSpace, PICK_WINDOW } from '../../../pkg/overlay/subnet-alloc.js'

const rec = (over: Partial<NetworkRecord> = {}): NetworkRecord => ({ network: 'ov', clusterCidr: '10.244.0.0/16', subnetLen: 24, vni: 1, ...over })

t.test('subnetSpace validates the record with code 7 and a message saying what to fix', async (t) => {
  const space = subnetSpace(rec())
  t.equal(space.count, 256)
  t.equal(subnetSpace(rec({ clusterCidr: '10.0.0.0/8', subnetLen: 30 })).count, 2 ** 22)
  const bad: [Partial<NetworkRecord>, RegExp][] = [
    [{ subnetLen: 16 }, /subnet length \/16 does not fit cluster CIDR 10\.244\.0\.0\/16; use a whole number longer than \/16 and at most \/30/],
    [{ subnetLen: 8 }, /does not fit/],
    [{ subnetLen: 31 }, /subnet length \/31 does not fit/],
    [{ subnetLen: 24.5 }, /does not fit/],
    [{ clusterCidr: '10.244.1.0/16' }, /has host bits set; use 10\.244\.0\.0\/16/],
    [{ clusterCidr: 'fd00::/48', subnetLen: 64 }, /must be an IPv4 prefix/],
    [{ clusterCidr: '10.244.0.0' }, /must be an IPv4 prefix/],
    [{ clusterCidr: 'banana' }, /is not a CIDR/],
    [{ vni: 0 }, /VNI 0 is out of range; use 1\.\.16777215/],
    [{ vni: 16777216 }, /VNI 16777216 is out of range/],
  ]
  for (const [over, msg] of bad) t.throws(() => subnetSpace(rec(over)), { code: CniCode.InvalidConfig, message: msg }, JSON.stringify(over))
})

t.test('subnets are numbered from the cluster address, and back', async (t) => {
  const s = subnetSpace(rec())
  t.equal(subnetAt(s, 0), '10.244.0.0/24')
  t.equal(subnetAt(s, 3), '10.244.3.0/24')
  t.equal(subnetAt(s, 255), '10.244.255.0/24')
  t.throws(() => subnetAt(s, 256), RangeError)
  t.throws(() => subnetAt(s, -1), RangeError)
  for (const i of [0, 1, 17, 255]) t.equal(subnetIndex(s, subnetAt(s, i)), i)
  t.equal(subnetIndex(s, '10.244.3.1/24'), undefined, 'not a network address')
  t.equal(subnetIndex(s, '10.244.3.0/25'), undefined, 'other length')
  t.equal(subnetIndex(s, '10.245.0.0/24'), undefined, 'outside the cluster')
  t.equal(subnetIndex(s, 'fd00::/24'), undefined)
  t.equal(subnetIndex(s, 'junk'), undefined)
  const big = subnetSpace(rec({ clusterCidr: '10.0.0.0/8', subnetLen: 30 }))
  t.equal(subnetAt(big, big.count - 1), '10.255.255.252/30')
  t.equal(subnetIndex(big, '10.255.255.252/30'), big.count - 1)
  const odd = subnetSpace(rec({ clusterCidr: '172.16.0.0/12', subnetLen: 21 }))
  t.equal(subnetAt(odd, 1), '172.16.8.0/21')
  t.equal(subnetAt(odd, odd.count - 1), '172.31.248.0/21')
})

t.test('pickSubnet: random among the lowest free, taken never, avoided only as a last resort', async (t) => {
  const s = subnetSpace(rec())
  t.equal(pickSubnet(s, new Set(), new Set(), () => 0), 0, 'lowest with random 0')
  t.equal(pickSubnet(s, new Set(), new Set(), () => 0.999999), PICK_WINDOW - 1, 'the window is the 100 lowest free')
  t.equal(pickSubnet(s, new Set([0, 1, 2]), new Set(), () => 0), 3)
  t.equal(pickSubnet(s, new Set([0]), new Set([1, 2]), () => 0), 3, 'subnets other hosts held are skipped')
  const allBut = (keep: number[]) => new Set([...Array(256).keys()].filter((i) => !keep.includes(i)))
  t.equal(pickSubnet(s, allBut([7, 9]), new Set([7, 9]), () => 0.99), 7, 'an avoided subnet when nothing else is free: the lowest')
  t.equal(pickSubnet(s, allBut([]), new Set(), () => 0), undefined, 'exhausted')
  // Every pick over many random draws stays free and inside the window.
  const taken = new Set([0, 5, 6, 50])
  const seen = new Set<number>()
  for (let k = 0; k < 50; k++) {
    const i = pickSubnet(s, taken)
    if (i === undefined || taken.has(i) || i >= PICK_WINDOW + taken.size) t.fail(`pick ${i} is taken or outside the window`)
    else seen.add(i)
  }
  t.ok(seen.size > 1, `random picks differ (${seen.size} distinct of 50)`)
  // A huge space with many taken: still finds the first free ones after them.
  const big = subnetSpace(rec({ clusterCidr: '10.0.0.0/8', subnetLen: 30 }))
  const many = new Set([...Array(200_000).keys()])
  t.equal(pickSubnet(big, many, new Set(), () => 0), 200_000)
})

t.test('exhaustion is code 100 naming the CIDR and the subnet length', async (t) => {
  const e = exhaustedError(subnetSpace(rec()), 'ov')
  t.equal(e.code, CniCode.AddressesExhausted)
  t.match(e.message, /^every \/24 of 10\.244\.0\.0\/16 is leased \(256 hosts on network ov\)/)
})

t.test('overlap and registration checks', async (t) => {
  t.ok(cidrsOverlap('10.244.0.0/16', '10.244.7.0/24'))
  t.ok(cidrsOverlap('10.0.0.0/8', '10.244.0.0/16'))
  t.ok(cidrsOverlap('10.244.0.0/16', '10.244.0.0/16'))
  t.notOk(cidrsOverlap('10.244.0.0/16', '10.245.0.0/16'))
  t.notOk(cidrsOverlap('10.244.0.0/16', 'fd00::/8'))
  const a = rec()
  t.equal(checkAgainstRegistered(a, []), false, 'new')
  t.equal(checkAgainstRegistered(a, [{ ...a }]), true, 'same again: nothing to write')
  t.equal(checkAgainstRegistered(rec({ network: 'b', clusterCidr: '10.245.0.0/16', vni: 2 }), [a]), false)
  t.throws(() => checkAgainstRegistered(rec({ subnetLen: 26 }), [a]), { code: 7, message: /network ov is registered with cluster CIDR 10\.244\.0\.0\/16, subnet length \/24 and VNI 1, not 10\.244\.0\.0\/16, \/26 and 1/ })
  t.throws(() => checkAgainstRegistered(rec({ clusterCidr: '10.240.0.0/12' }), [a]), { code: 7, message: /registered with cluster CIDR/ })
  t.throws(() => checkAgainstRegistered(rec({ network: 'b', clusterCidr: '10.244.128.0/17', vni: 2 }), [a]), {
    code: 7,
    message: 'cluster CIDR 10.244.128.0/17 of network b overlaps 10.244.0.0/16 of network ov; choose a CIDR that does not overlap',
  })
  t.throws(() => checkAgainstRegistered(rec({ network: 'b', clusterCidr: '10.245.0.0/16' }), [a]), { code: 7, message: /VNI 1 of network b is already used by network ov/ })
  t.throws(() => checkAgainstRegistered(rec({ network: 'b', subnetLen: 40 }), [a]), { code: 7, message: /does not fit/ }, 'the record itself is validated first')
})
