// MAC address text <-> bytes.
import t from 'tap'
import { formatMac, MacParseError, parseMac } from '../../../../pkg/link/mac.js'

t.test('parse and format', async (t) => {
  t.same([...parseMac('02:AA:bb:0c:dd:0e')], [2, 0xaa, 0xbb, 0x0c, 0xdd, 0x0e])
  t.same([...parseMac('02-aa-bb-0c-dd-0e')], [2, 0xaa, 0xbb, 0x0c, 0xdd, 0x0e])
  t.equal(formatMac(Uint8Array.from([2, 0xaa, 0xbb, 0x0c, 0xdd, 0x0e])), '02:aa:bb:0c:dd:0e')
  for (const bad of ['', '02:aa:bb:0c:dd', '02:aa:bb:0c:dd:0e:ff', '2:aa:bb:0c:dd:0e', '02:aa:bb:0c:dd:0g', '02aabb0cdd0e']) {
    t.throws(() => parseMac(bad), MacParseError, JSON.stringify(bad))
  }
})
