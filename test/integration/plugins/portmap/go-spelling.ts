// bin/portmap given the portMappings capability exactly as containerd sends it: go-cni's PortMapping struct
// has no json tags, so its fields arrive in Go's default spelling ("HostPort", "ContainerPort", "Protocol",
// "HostIP"), which the reference accepts. ADD, CHECK and DEL each get that same JSON, as from containerd.
import t from 'tap'
import { ok, rig, serve, skip, talk } from '../../../helpers/portmap-rig.js'

const CONTAINERD = [
  { HostPort: 18080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
  { HostPort: 18053, ContainerPort: 53, Protocol: 'udp', HostIP: '' },
]

t.test("containerd's spelling: ADD publishes, CHECK passes, DEL removes", { skip }, async (t) => {
  const rg = await rig(t)
  const c1 = await rg.container('ctrd1', CONTAINERD, { capabilities: { portMappings: true } })
  ok(t, c1.add, 'ADD')
  t.same(c1.add.json, c1.prev, 'ADD returns prevResult unchanged, in the spec spelling')
  await serve(t, c1.ns, 'ctrd1', [80, 53])
  t.equal(talk(rg.ext, '10.99.0.1', 18080), 'ctrd1 tcp 80 from 10.99.0.2', 'TCP from outside')
  t.equal(talk(rg.ext, '10.99.0.1', 18053, 'udp'), 'ctrd1 udp 53 from 10.99.0.2', 'UDP from outside')
  t.equal(rg.elements().filter((e) => e.map === 'any4').length, 2, 'one element per mapping')
  const conf = rg.pmConf(CONTAINERD, c1.prev, { capabilities: { portMappings: true } })
  ok(t, rg.pm('CHECK', 'ctrd1', c1.ns, conf), 'CHECK')
  ok(t, rg.pm('DEL', 'ctrd1', c1.ns, conf), 'DEL')
  t.same(rg.elements(), [], 'nothing left')
  t.match(talk(rg.ext, '10.99.0.1', 18080), /^ERR/, 'no longer forwarded')
  ok(t, rg.pm('DEL', 'ctrd1', '', conf), 'DEL again')
})

t.test("containerd's spelling: a bad entry is named as sent", { skip }, async (t) => {
  const rg = await rig(t)
  const noPort = await rg.container('ctrd2', [{ ContainerPort: 80, Protocol: 'tcp', HostIP: '' }])
  t.match(noPort.add.json, { code: 7, msg: 'invalid network configuration: runtimeConfig.portMappings[0].HostPort: missing (expected number)' })
  const zero = await rg.container('ctrd3', [{ HostPort: 0, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }])
  t.match(zero.add.json, { code: 7, msg: 'invalid runtimeConfig.portMappings[0].HostPort: must be between 1 and 65535, received 0' })
  t.same(rg.elements(), [], 'nothing added')
})
