// bin/host-local and the reference host-local (Go) on the same configurations with keys in Go's spellings
// and sent twice: both must allocate from the same range, with the same gateway and routes, or both refuse.
// host-local touches no namespace, so this needs no privileges.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runPlugin, type PluginRun } from '../../helpers/run-plugin.js'
import { needsBuiltBin } from '../../helpers/privileges.js'
import { BIN_DIR } from '../../helpers/paths.js'

const REF_DIR = '/usr/lib/cni'
const skip = needsBuiltBin('host-local', BIN_DIR) || (existsSync(join(REF_DIR, 'host-local')) ? false : `reference plugin ${REF_DIR}/host-local not installed (scripts/setup installs it)`)

// "@DATA@" stands for each side's own data directory.
const CASES: [string, string][] = [
  ['any case at every level', '{"cniVersion":"1.0.0","Name":"n1","TYPE":"bridge","IPAM":{"type":"host-local","DATADIR":"@DATA@","Ranges":[[{"SUBNET":"10.1.0.0/24","RangeStart":"10.1.0.40"}]]}}'],
  ['long s folds to s', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","\u017fubnet":"10.2.0.0/24"}}'],
  ['ipam then IPAM: merged', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.3.0.0/24"}]]},"IPAM":{"dataDir":"@DATA@"}}'],
  ['ranges then Ranges: element by element', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.4.0.0/24","rangeStart":"10.4.0.50"}]],"Ranges":[[{"subnet":"10.4.0.0/24"}]]}}'],
  ['three spellings: elements past the length come back', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.7.0.0/24"}],[{"subnet":"fd00:7::/64","rangeStart":"fd00:7::50"}],[{"subnet":"10.8.0.0/24"}]],"Ranges":[[{"subnet":"10.9.0.0/24"}]],"RANGES":[[{"subnet":"10.9.0.0/24"}],[{"subnet":"fd00:7::/64"}]]}}'],
  ['a longer second array: new elements fresh', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.7.0.0/24","rangeStart":"10.7.0.9"}]],"Ranges":[[{"subnet":"10.7.0.0/24"}],[{"subnet":"fd00:7::/64"}]]}}'],
  ['a shorter second array: truncated', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.7.0.0/24","rangeStart":"10.7.0.9"}],[{"subnet":"fd00:7::/64"}]],"Ranges":[[{"subnet":"10.7.0.0/24"}]]}}'],
  ['an empty array in between: no capacity left', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.7.0.0/24","rangeStart":"10.7.0.9"}]],"Ranges":[],"RANGES":[[{"subnet":"10.7.0.0/24"}]]}}'],
  ['subnet then SUBNET: the last wins', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","subnet":"10.5.0.0/24","SUBNET":"10.6.0.0/24"}}'],
  ['SUBNET then subnet: the last wins', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","SUBNET":"10.6.0.0/24","subnet":"10.5.0.0/24"}}'],
  ['routes then Routes: replaced (cni Route has its own UnmarshalJSON)', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","subnet":"10.7.0.0/24","routes":[{"dst":"10.50.0.0/16","gw":"10.7.0.9"}],"Routes":[{"dst":"10.60.0.0/16"}]}}'],
  ["containerd's ipRanges capability", '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","ranges":[[{"subnet":"10.8.0.0/24"}]]},"RuntimeConfig":{"ipRanges":[[{"Subnet":"10.10.0.0/24","RangeStart":"10.10.0.77","RangeEnd":"10.10.0.80","Gateway":"10.10.0.254"}]]}}'],
  ['the ips capability and args.cni.ips under other spellings', '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","subnet":"10.11.0.0/24"},"ARGS":{"Cni":{"IPs":["10.11.0.33"]}}}'],
]

const run = (dir: string | undefined, stdin: string): PluginRun =>
  runPlugin('host-local', { command: 'ADD', containerId: 'gokeys', netns: '/var/run/netns/unused', ifName: 'eth0', stdin, ...(dir === undefined ? {} : { dir }) })

// What the two must agree on: the allocation (or that there was none) and the routes.
const outcome = (r: PluginRun) => (r.status === 0 ? { ips: r.json?.['ips'], routes: r.json?.['routes'] } : { failed: true })

for (const [name, text] of CASES) {
  t.test(name, { skip }, async (t) => {
    const ref = run(REF_DIR, text.replaceAll('@DATA@', t.testdir({}) + '/ref'))
    const berth = run(undefined, text.replaceAll('@DATA@', t.testdir({}) + '/berth'))
    t.equal(ref.status, 0, `the reference accepts it: ${ref.stdout}`)
    t.same(outcome(berth), outcome(ref), `berth as the reference: ${berth.stdout}${berth.stderr}`)
  })
}

t.test('null after a value: the reference drops the slice (nil), berth refuses the null (not modelled)', { skip }, async (t) => {
  const text = '{"cniVersion":"1.0.0","name":"n1","type":"bridge","ipam":{"type":"host-local","dataDir":"@DATA@","subnet":"10.7.0.0/24","ranges":[[{"subnet":"10.8.0.0/24"}]],"Ranges":null}}'
  const ref = run(REF_DIR, text.replaceAll('@DATA@', t.testdir({}) + '/ref'))
  t.equal(ref.status, 0)
  const berth = run(undefined, text.replaceAll('@DATA@', t.testdir({}) + '/berth'))
  t.match(berth.json, { code: 7, msg: 'invalid ipam: Ranges: expected array, received null' })
})
