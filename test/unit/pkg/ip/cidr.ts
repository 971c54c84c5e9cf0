// IP parsing helpers.
import t from 'tap'
import { broadcastOf, formatCidr, formatIp, ipFamily, IpParseError, networkOf, parseCidr, parseIp } from '../../../../pkg/ip/cidr.js'

t.test('parseIp', async (t) => {
  t.same(parseIp('10.1.2.3'), { family: 4, bytes: Uint8Array.from([10, 1, 2, 3]) })
  const v6 = parseIp('fd00::1')
  t.equal(v6.family, 6)
  t.equal(v6.bytes.length, 16)
  t.equal(v6.bytes[0], 0xfd)
  t.equal(v6.bytes[15], 1)
  t.same(parseIp('::').bytes, new Uint8Array(16))
  for (const bad of ['', '10.1.2', '10.1.2.256', '010.1.2.3', '10.1.2.3/24', 'fe80::1%eth0', 'fd00::1::2', 'x', ' 10.1.2.3']) {
    t.throws(() => parseIp(bad), IpParseError, JSON.stringify(bad))
  }
})

t.test('parseCidr', async (t) => {
  t.match(parseCidr('10.1.2.3/24'), { family: 4, prefixLen: 24 })
  t.match(parseCidr('10.1.2.3'), { prefixLen: 32 })
  t.match(parseCidr('fd00::/64'), { family: 6, prefixLen: 64 })
  t.match(parseCidr('::/0'), { family: 6, prefixLen: 0 })
  t.match(parseCidr('fd00::1'), { prefixLen: 128 })
  for (const bad of ['10.1.2.3/33', '10.1.2.3/', '10.1.2.3/024', '10.1.2.3/-1', 'fd00::/129', '/24', '10.1.2.3/24/1']) {
    t.throws(() => parseCidr(bad), { name: 'IpParseError', input: bad }, JSON.stringify(bad))
  }
  t.equal(ipFamily('fd00::1/64'), 6)
  t.equal(ipFamily('nope'), undefined)
})

t.test('formatting and prefix arithmetic', async (t) => {
  t.equal(formatIp(Uint8Array.from([192, 168, 0, 1])), '192.168.0.1')
  t.equal(formatIp(parseIp('fd00:0:0:0:0:0:0:1').bytes), 'fd00::1', 'RFC 5952 form')
  t.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1').bytes), '2001:db8::1:0:0:1')
  t.throws(() => formatIp(new Uint8Array(5)), IpParseError)
  t.equal(formatCidr(networkOf(parseCidr('10.1.2.3/22'))), '10.1.0.0/22')
  t.equal(formatCidr(networkOf(parseCidr('fd00::abcd/120'))), 'fd00::ab00/120')
  t.equal(formatCidr(networkOf(parseCidr('10.1.2.3/0'))), '0.0.0.0/0')
  t.equal(formatIp(broadcastOf(parseCidr('10.1.2.3/22'))?.bytes ?? new Uint8Array()), '10.1.3.255')
  t.equal(broadcastOf(parseCidr('10.1.2.3/31')), undefined)
  t.equal(broadcastOf(parseCidr('fd00::1/64')), undefined)
})
