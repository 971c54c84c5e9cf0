import t from 'tap'
import { formatIp, parseIp } from '../../../../pkg/ip/cidr.js'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { parseHostLocalConfig } from '../../../../pkg/host-local/config.js'
import { candidates, rangeSetContains, rangeSetSize, type RangeSet } from '../../../../pkg/host-local/range-set.js'

const set = (...ranges: Record<string, string>[]): RangeSet =>
  parseHostLocalConfig(parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'x', ipam: { type: 'host-local', ranges: [ranges] } }))).rangeSets[0] as RangeSet

const walk = (s: RangeSet, last?: string) => [...candidates(s, last === undefined ? undefined : parseIp(last))].map((c) => formatIp(c.ip.bytes))

t.test('a /29 from the start: gateway skipped, broadcast excluded', async (t) => {
  const s = set({ subnet: '10.0.0.0/29' })
  t.same(walk(s), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'])
  t.equal(rangeSetSize(s), 5n)
})

t.test('resumes after the last reserved address and wraps around', async (t) => {
  const s = set({ subnet: '10.0.0.0/29' })
  t.same(walk(s, '10.0.0.4'), ['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4'])
  t.same(walk(s, '10.0.0.6'), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'])
  // A last address outside the set (the config changed) starts over, as in the reference.
  t.same(walk(s, '192.168.0.1'), walk(s))
})

t.test('several ranges in a set are walked in order, wrapping to the first', async (t) => {
  const s = set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.11' }, { subnet: '10.0.1.0/24', rangeStart: '10.0.1.1', rangeEnd: '10.0.1.3' })
  t.same(walk(s), ['10.0.0.10', '10.0.0.11', '10.0.1.2', '10.0.1.3'])
  t.same(walk(s, '10.0.0.11'), ['10.0.1.2', '10.0.1.3', '10.0.0.10', '10.0.0.11'])
  t.equal(rangeSetSize(s), 4n)
})

t.test('a gateway in the middle of a range is skipped; one outside the range costs nothing', async (t) => {
  const s = set({ subnet: '10.0.0.0/29', gateway: '10.0.0.4' })
  t.same(walk(s), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6'])
  const outside = set({ subnet: '10.0.0.0/29', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.3' })
  t.equal(rangeSetSize(outside), 2n)
  t.same(walk(outside), ['10.0.0.2', '10.0.0.3'])
})

t.test('single-address ranges (what /31 and /32 would give) work via rangeStart = rangeEnd', async (t) => {
  const one = set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.7', rangeEnd: '10.0.0.7' })
  t.same(walk(one), ['10.0.0.7'])
  t.same(walk(one, '10.0.0.7'), ['10.0.0.7'])
  const onlyGw = set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' })
  t.same(walk(onlyGw), [])
  t.equal(rangeSetSize(onlyGw), 0n)
  // /30 is the smallest IPv4 subnet: one address besides gateway, network and broadcast.
  t.same(walk(set({ subnet: '10.0.0.4/30' })), ['10.0.0.6'])
})

t.test('IPv6: the last address is usable; huge ranges iterate lazily', async (t) => {
  const s = set({ subnet: 'fd00::/126' })
  t.same(walk(s), ['fd00::2', 'fd00::3'])
  const big = set({ subnet: 'fd00:1::/64' })
  t.equal(rangeSetSize(big), 2n ** 64n - 2n)
  const it = candidates(big, parseIp('fd00:1::ffff:ffff:ffff:fffe'))
  t.same([0, 1, 2].map(() => formatIp(it.next().value?.ip.bytes ?? new Uint8Array())), ['fd00:1::ffff:ffff:ffff:ffff', 'fd00:1::2', 'fd00:1::3'])
  t.ok(rangeSetContains(big, parseIp('fd00:1::ffff:ffff:ffff:ffff')))
  t.notOk(rangeSetContains(big, parseIp('fd00:1::')))
  t.notOk(rangeSetContains(big, parseIp('10.0.0.1')))
})

t.test('an IPv4 /16 range crosses octets', async (t) => {
  const s = set({ subnet: '10.9.0.0/16', rangeStart: '10.9.0.254', rangeEnd: '10.9.1.1' })
  t.same(walk(s), ['10.9.0.254', '10.9.0.255', '10.9.1.0', '10.9.1.1'])
})
