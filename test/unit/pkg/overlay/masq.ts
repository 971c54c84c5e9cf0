// The overlay NAT transactions: one masquerade per network, idempotent declarations, element apart.
import t from 'tap'
import { masqueradeBatches } from '../../../../pkg/overlay/masq.js'

t.test('declarations, then the network element', async (t) => {
  const [decl, elem] = masqueradeBatches('ov', '10.244.0.0/16')
  const text = decl.toString()
  t.match(text, /"add":\{"table":\{"family":"inet","name":"berth_overlay"\}\}/)
  t.match(text, /"flush":\{"chain":\{"family":"inet","table":"berth_overlay","name":"postrouting"\}\}/, 'fixed rules rewritten, never duplicated')
  t.match(text, /"vmap":\{"key":\{"payload":\{"protocol":"ip","field":"saddr"\}\},"data":"@nets4"\}/)
  t.match(text, /"right":\{"prefix":\{"addr":"10.244.0.0","len":16\}\}\}\},\{"return":null\}/, 'traffic inside the cluster is not NATed')
  t.match(text, /\{"masquerade":null\}/)
  t.equal(elem.length, 1)
  t.match(elem.toString(), /"comment":"net:ov"/)
  t.match(elem.toString(), /"jump":\{"target":"net_[0-9a-f]{12}"\}/)
  t.same(masqueradeBatches('ov', '10.244.0.0/16')[0].toString(), text, 'the same every time')
  t.not(masqueradeBatches('other', '10.245.0.0/16')[1].toString(), elem.toString())
})
