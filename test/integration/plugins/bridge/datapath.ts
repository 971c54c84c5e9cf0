// The data-path attributes of what bin/bridge builds, against a plain `ip link add` veth pair made in the
// same throw-away host namespace: the goal "bridge throughput >= 0.95x a plain veth pair" (bench/bridge.ts)
// depends on berth's veths being as fast as a plain pair — the same queues, GSO/TSO/GRO limits, offloads
// and no qdisc — and on the bridge not forcing bridged traffic through the IPv4/IPv6 netfilter hooks.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { runPlugin } from '../../../helpers/run-plugin.js'
import { needsBuiltBin, needsRoot } from '../../../helpers/privileges.js'
import { createTestNetns, type TestNetns } from '../../../helpers/netns.js'
import { uniqueName } from '../../../helpers/names.js'
import { BIN_DIR } from '../../../helpers/paths.js'

const skip = needsRoot() || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('host-local', BIN_DIR)

// The attributes of `ip -d -j link show` that decide how much a packet costs on a veth. txqlen is left
// out on purpose: with the noqueue qdisc a veth never queues, and berth keeps the kernel default (1000)
// where the reference plugins set 0.
const DATA_PATH_KEYS = ['mtu', 'qdisc', 'num_tx_queues', 'num_rx_queues', 'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs', 'gro_max_size', 'gso_ipv4_max_size', 'gro_ipv4_max_size']

type LinkJson = Record<string, unknown> & { linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }

const linkOf = (ns: TestNetns, name: string) => (ns.ipJson(['-d', 'link', 'show', 'dev', name]) as LinkJson[])[0] as LinkJson
const dataPath = (l: LinkJson) => Object.fromEntries(DATA_PATH_KEYS.filter((k) => k in l).map((k) => [k, l[k]]))

/** `ethtool -k` of a device inside ns, its first line (the device name) dropped; undefined without ethtool. */
function offloads(ns: TestNetns, dev: string): string | undefined {
  const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'ethtool', '-k', dev], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) return undefined
  return r.stdout.split('\n').slice(1).join('\n')
}

t.test("berth's veth pair has a plain veth pair's data-path attributes; the bridge forces no netfilter on bridged traffic", { skip }, async (t) => {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const cont = await createTestNetns(t)
  const bridge = uniqueName('br')
  const conf = { cniVersion: '1.1.0', name: 'dptest', type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: t.testdir(), subnet: '10.79.0.0/24' } }
  const call = (command: string) => runPlugin('bridge', { command, netns: cont.path, ifName: 'eth0', containerId: 'dp1', path: BIN_DIR, stdin: conf, hostNetns: host.path })
  const add = call('ADD')
  t.equal(add.status, 0, `ADD: ${add.stdout}${add.stderr}`)
  const hostVeth = (add.json?.['interfaces'] as { name: string }[] | undefined)?.[1]?.name ?? ''
  t.match(hostVeth, /^veth[0-9a-f]{8}$/, 'the result names the host veth')

  // The baseline, made the ordinary way in the same host namespace (so the same kernel defaults apply).
  host.exec('ip', ['link', 'add', 'plaina', 'type', 'veth', 'peer', 'name', 'plainb'])
  host.exec('ip', ['link', 'set', 'plaina', 'up'])
  host.exec('ip', ['link', 'set', 'plainb', 'up'])
  const plain = dataPath(linkOf(host, 'plaina'))
  t.ok(Object.keys(plain).length >= 8, `ip -d -j reports the data-path attributes (${Object.keys(plain).join(', ')})`)

  t.same(dataPath(linkOf(host, hostVeth)), plain, 'host end: same queues, GSO/TSO/GRO limits, MTU and qdisc as a plain veth')
  t.same(dataPath(linkOf(cont, 'eth0')), plain, 'container end: the same')

  const plainOffloads = offloads(host, 'plaina')
  if (plainOffloads === undefined) {
    t.comment('ethtool not installed: offload features not compared (apt-get install ethtool)')
  } else {
    t.equal(offloads(host, hostVeth), plainOffloads, 'host end: the offload features of a plain veth (ethtool -k)')
    t.equal(offloads(cont, 'eth0'), plainOffloads, 'container end: the same')
  }

  const br = linkOf(host, bridge).linkinfo?.info_data ?? {}
  t.match(br, { nf_call_iptables: 0, nf_call_ip6tables: 0, nf_call_arptables: 0 }, 'the bridge does not force bridged frames through the IP netfilter hooks')

  const del = call('DEL')
  t.equal(del.status, 0, `DEL: ${del.stdout}${del.stderr}`)
})
