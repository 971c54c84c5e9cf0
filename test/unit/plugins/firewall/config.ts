import t from 'tap'
import { parseNetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { DEFAULT_FORWARD_MARK, markText, parseFirewallConfig } from '../../../../plugins/firewall/config.js'
import { ownerOf, parseOwnerComment } from '../../../../plugins/firewall/owner.js'
import { bridgeOf, containerAddresses } from '../../../../plugins/firewall/prev-result.js'
import { NFT_COMMENT_MAX } from '../../../../pkg/firewall/nft-batch.js'

const parse = (extra: Record<string, unknown> = {}) => parseFirewallConfig(parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'fnet', type: 'firewall', ...extra })))
const code = (fn: () => unknown): number | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof CniError ? e.code : -1
  }
  return undefined
}

t.test('defaults: nftables, open, CNI-ADMIN, the default mark', async (t) => {
  const c = parse()
  t.same({ ...c, netConf: undefined }, { netConf: undefined, backend: 'nftables', ingressPolicy: 'open', adminChain: 'CNI-ADMIN', forwardMark: DEFAULT_FORWARD_MARK })
  t.equal(parse({ backend: '' }).backend, 'nftables', 'podman writes backend ""')
  t.equal(parse({ ingressPolicy: '' }).ingressPolicy, 'open')
  t.equal(parse({ iptablesAdminChainName: '' }).adminChain, 'CNI-ADMIN')
})

t.test('every key', async (t) => {
  const c = parse({ backend: 'iptables', ingressPolicy: 'same-bridge', iptablesAdminChainName: 'MY-ADMIN', forwardMark: '0x400000' })
  t.equal(c.backend, 'iptables')
  t.equal(c.ingressPolicy, 'same-bridge')
  t.equal(c.adminChain, 'MY-ADMIN')
  t.equal(c.forwardMark, 0x400000)
  t.equal(parse({ forwardMark: 1024 }).forwardMark, 1024)
  t.equal(markText(0x1000000), '0x1000000/0x1000000')
})

t.test('bad values are CniError 7', async (t) => {
  t.equal(code(() => parse({ backend: 'firewalld' })), 7, 'firewalld is not offered')
  t.equal(code(() => parse({ backend: 'ipfw' })), 7)
  t.equal(code(() => parse({ backend: 3 })), 7)
  t.equal(code(() => parse({ ingressPolicy: 'closed' })), 7)
  t.equal(code(() => parse({ iptablesAdminChainName: 'has space' })), 7)
  t.equal(code(() => parse({ iptablesAdminChainName: 'X'.repeat(29) })), 7)
  for (const m of [0, 3, 0x3000, -1, 'zz', '0x100000000', 1.5]) t.equal(code(() => parse({ forwardMark: m })), 7, `forwardMark ${m}`)
})

t.test('owner comments: stable, parseable, fit nftables; network tag shared', async (t) => {
  const a = ownerOf('net1', 'c1', 'eth0')
  t.equal(a.tag, ownerOf('net1', 'c1', 'eth0').tag)
  t.not(a.tag, ownerOf('net1', 'c1', 'eth1').tag)
  t.equal(a.netTag, ownerOf('net1', 'c9', 'eth9').netTag)
  t.not(a.netTag, ownerOf('net2', 'c1', 'eth0').netTag)
  t.match(a.comment, /^[0-9a-f]{16} [0-9a-f]{8} net:net1 id:c1 if:eth0$/)
  t.match(parseOwnerComment(a.comment), { tag: a.tag, netTag: a.netTag, network: 'net1', containerId: 'c1', ifName: 'eth0' })
  t.equal(parseOwnerComment('something else'), undefined)
  const long = ownerOf('n'.repeat(200), 'f'.repeat(64), 'eth0')
  t.ok(Buffer.byteLength(long.comment) <= NFT_COMMENT_MAX)
})

t.test('addresses and bridge from prevResult', async (t) => {
  const prev = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'cni0', mac: '02:00:00:00:00:01' }, { name: 'veth1', mac: '02:00:00:00:00:02' }, { name: 'eth0', sandbox: '/proc/1/ns/net' }],
    ips: [{ address: '10.0.0.5/24', interface: 2 }, { address: 'fd00::0005/64' }, { address: '10.0.0.5/24' }],
  }
  t.same(containerAddresses(prev), [{ family: 4, ip: '10.0.0.5' }, { family: 6, ip: 'fd00::5' }])
  t.equal(bridgeOf(prev), 'cni0')
  t.equal(bridgeOf({ cniVersion: '1.1.0' }), undefined)
  t.same(containerAddresses(undefined), [])
})

t.test("keys in any spelling Go accepts", async (t) => {
  t.match(parse({ Backend: 'iptables', IngressPolicy: 'same-bridge', IPTablesAdminChainName: 'ADM', ForwardMark: '0x2' }), { backend: 'iptables', ingressPolicy: 'same-bridge', adminChain: 'ADM', forwardMark: 2 })
})
