import t from 'tap'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { formatCidr } from '../../../../pkg/ip/cidr.js'
import { parseBandwidthConfig } from '../../../../plugins/bandwidth/config.js'
import { ifbName, subnetKeys, tokenBucket } from '../../../../plugins/bandwidth/shape.js'
import { referenceIfbName } from '../../../helpers/ifb.js'

const netConf = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'bwnet', type: 'bandwidth', ...extra }))
const parse = (extra: Record<string, unknown> = {}) => parseBandwidthConfig(netConf(extra))
const refused = (extra: Record<string, unknown>): { code: number; msg: string } | undefined => {
  try {
    parse(extra)
  } catch (e) {
    if (e instanceof CniError) return { code: e.code, msg: e.message }
    throw e
  }
  return undefined
}

t.test('no limits: nothing to shape', async (t) => {
  t.equal(parse().limits, undefined)
  t.equal(parse({ ingressRate: 0, ingressBurst: 0 }).limits, undefined, 'zeros are no limit')
})

t.test('top-level keys, in bits', async (t) => {
  const l = parse({ ingressRate: 1000, ingressBurst: 80, egressRate: 2000, egressBurst: 160 }).limits
  t.same(l, { ingress: { rate: 1000, burst: 80 }, egress: { rate: 2000, burst: 160 }, subnets: { list: [], exclude: false } })
  t.same(parse({ egressRate: 2000, egressBurst: 160 }).limits?.ingress, undefined, 'one direction alone')
})

t.test('the capability, in Go spelling, when the configuration names no limit key', async (t) => {
  const l = parse({ runtimeConfig: { bandwidth: { IngressRate: 10_000_000, IngressBurst: 4294967295, EGRESSRATE: 800, egressburst: 8 } } }).limits
  t.same(l?.ingress, { rate: 10_000_000, burst: 4294967295 })
  t.same(l?.egress, { rate: 800, burst: 8 })
  // Any top-level key, even 0, wins: Go allocates the embedded struct as soon as one of its fields appears.
  t.equal(parse({ ingressRate: 0, runtimeConfig: { bandwidth: { ingressRate: 1000, ingressBurst: 80 } } }).limits, undefined)
  t.same(parse({ IngressRate: 1000, IngressBurst: 80, runtimeConfig: { bandwidth: { egressRate: 1000, egressBurst: 80 } } }).limits?.egress, undefined)
})

t.test('subnets', async (t) => {
  const u = parse({ ingressRate: 1000, ingressBurst: 80, unshapedSubnets: ['10.0.0.0/8', 'fd00::/64'] }).limits?.subnets
  t.same({ list: u?.list.map(formatCidr), exclude: u?.exclude }, { list: ['10.0.0.0/8', 'fd00::/64'], exclude: true })
  const s = parse({ ingressRate: 1000, ingressBurst: 80, shapedSubnets: ['192.0.2.0/24'] }).limits?.subnets
  t.same({ list: s?.list.map(formatCidr), exclude: s?.exclude }, { list: ['192.0.2.0/24'], exclude: false })
})

t.test('bad input is error 7 naming the key', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ingressRate: 1000 }, /ingressRate is set, so ingressBurst must be set/],
    [{ egressBurst: 1000 }, /egressBurst is set, so egressRate must be set/],
    [{ ingressRate: 1000, ingressBurst: 8 * 0xffffffff }, /ingressBurst .* too large/],
    [{ ingressRate: 7, ingressBurst: 80 }, /ingressRate 7 is too small/],
    [{ ingressRate: 1.5, ingressBurst: 80 }, /ingressRate/],
    [{ ingressRate: -8, ingressBurst: 80 }, /ingressRate/],
    [{ ingressRate: '8', ingressBurst: 80 }, /ingressRate/],
    [{ ingressRate: 8, ingressBurst: 80, unshapedSubnets: ['10.0.0.0/8'], shapedSubnets: ['10.0.0.0/9'] }, /cannot both be set/],
    [{ ingressRate: 8, ingressBurst: 80, shapedSubnets: ['10.0.0.1'] }, /shapedSubnets\[0\]: "10.0.0.1" is not a subnet/],
    [{ ingressRate: 8, ingressBurst: 80, unshapedSubnets: [1] }, /unshapedSubnets/],
    [{ runtimeConfig: { bandwidth: { egressRate: 1000 } } }, /runtimeConfig\.bandwidth\.egressRate is set/],
  ]
  for (const [extra, msg] of cases) t.match(refused(extra), { code: 7, msg }, JSON.stringify(extra))
})

t.test('DEL and GC read no limits: a bad one never blocks clean-up', async (t) => {
  t.equal(parseBandwidthConfig(netConf({ ingressRate: 'x' }), { strict: false }).limits, undefined)
})

t.test("the reference's token bucket arithmetic and ifb name", async (t) => {
  // 20 Mbit/s, 200 kbit: 2.5 MB/s; 10 ms of bucket = 156250 ticks of 64 ns; limit 25 ms + burst.
  t.same(tokenBucket({ rate: 20_000_000, burst: 200_000 }, 15.625), { rate: 2_500_000, buffer: 156_250, limit: 87_500 })
  // containerd's burst (MaxUint32 bits): the tick count overflows u32 and wraps as Go's conversion does on amd64.
  t.same(tokenBucket({ rate: 10_000_000, burst: 4294967295 }, 15.625), { rate: 1_250_000, buffer: 2415919079, limit: 536902161 })
  t.equal(ifbName('net', 'abc'), referenceIfbName('net', 'abc'))
  t.match(ifbName('net', 'abc'), /^bwp[0-9a-f]{12}$/)
})

t.test('subnet match keys: remote source to the container, remote destination from it', async (t) => {
  const v4 = parse({ ingressRate: 8, ingressBurst: 8, shapedSubnets: ['192.0.2.0/24', 'fd00:db8::/40'] }).limits!.subnets.list
  t.same(subnetKeys(v4[0]!, 'to-container'), [{ mask: 0xffffff00, value: 0xc0000200, off: 12 }])
  t.same(subnetKeys(v4[0]!, 'from-container'), [{ mask: 0xffffff00, value: 0xc0000200, off: 16 }])
  t.same(subnetKeys(v4[1]!, 'from-container'), [
    { mask: 0xffffffff, value: 0xfd000db8, off: 24 },
    { mask: 0xff000000, value: 0, off: 28 },
  ])
  t.same(subnetKeys(v4[1]!, 'to-container')[0], { mask: 0xffffffff, value: 0xfd000db8, off: 8 })
})
