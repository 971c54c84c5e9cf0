// The address arithmetic host-local added to pkg/ip/cidr.ts.
import t from 'tap'
import { addToIp, compareIp, formatIp, ipFromBigInt, ipToBigInt, lastAddressOf, netContains, parseCidr, parseIp } from '../../../../pkg/ip/cidr.js'

t.test('integers and back', async (t) => {
  t.equal(ipToBigInt(parseIp('10.0.0.1')), 0x0a000001n)
  t.equal(ipToBigInt(parseIp('::1')), 1n)
  t.equal(formatIp(ipFromBigInt(4, 0xffffffffn).bytes), '255.255.255.255')
  t.equal(formatIp(ipFromBigInt(6, (1n << 128n) - 1n).bytes), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')
  t.throws(() => ipFromBigInt(4, 1n << 32n), { name: 'IpParseError' })
  t.throws(() => ipFromBigInt(6, -1n), { name: 'IpParseError' })
})

t.test('addToIp crosses bytes and stops at the ends of the address space', async (t) => {
  t.equal(formatIp(addToIp(parseIp('10.0.0.255'), 1n)?.bytes ?? new Uint8Array()), '10.0.1.0')
  t.equal(formatIp(addToIp(parseIp('10.0.1.0'), -1n)?.bytes ?? new Uint8Array()), '10.0.0.255')
  t.equal(formatIp(addToIp(parseIp('fd00::ffff'), 1n)?.bytes ?? new Uint8Array()), 'fd00::1:0')
  t.equal(addToIp(parseIp('255.255.255.255'), 1n), undefined)
  t.equal(addToIp(parseIp('::'), -1n), undefined)
})

t.test('compare, contain, last address', async (t) => {
  t.equal(compareIp(parseIp('10.0.0.1'), parseIp('10.0.0.2')), -1)
  t.equal(compareIp(parseIp('10.0.0.2'), parseIp('10.0.0.2')), 0)
  t.equal(compareIp(parseIp('::1'), parseIp('255.0.0.0')), 2, 'IPv6 after IPv4')
  t.ok(netContains(parseCidr('10.1.0.0/16'), parseIp('10.1.255.255')))
  t.notOk(netContains(parseCidr('10.1.0.0/16'), parseIp('10.2.0.0')))
  t.notOk(netContains(parseCidr('10.1.0.0/16'), parseIp('::a01:0')), 'other family')
  t.ok(netContains(parseCidr('0.0.0.0/0'), parseIp('1.2.3.4')))
  t.equal(formatIp(lastAddressOf(parseCidr('10.1.2.3/24')).bytes), '10.1.2.255')
  t.equal(formatIp(lastAddressOf(parseCidr('10.1.2.3/32')).bytes), '10.1.2.3')
  t.equal(formatIp(lastAddressOf(parseCidr('10.1.2.2/31')).bytes), '10.1.2.3')
  t.equal(formatIp(lastAddressOf(parseCidr('fd00::/64')).bytes), 'fd00::ffff:ffff:ffff:ffff')
})
