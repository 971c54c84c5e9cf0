// Backend selection with fake probes.
import t from 'tap'
import type { NativeBinding } from '../../../../native/binding.js'
import { CniCode, CniError } from '../../../../pkg/errors/cni-error.js'
import { DEFAULT_FIREWALL_BACKEND, iptablesAvailability, nftablesAvailability, probeFirewallBackends, selectFirewallBackend, type BackendProbes } from '../../../../pkg/firewall/driver.js'

const withNft = () => ({ nftRun: () => ({ output: '', error: '' }) }) as unknown as NativeBinding
const noAddon = (): NativeBinding => {
  throw new CniError(CniCode.NotAvailable, 'berth native addon not found')
}
const allTools = () => ({ restore: '/sbin/x-restore', save: '/sbin/x-save' })
const noTools = () => ({ restore: undefined, save: undefined })
const only4 = (f: 4 | 6) => (f === 4 ? allTools() : noTools())

const probes = (native: BackendProbes['native'], iptablesTools: BackendProbes['iptablesTools']): BackendProbes => ({ native, iptablesTools })

t.test('availability', async (t) => {
  t.same(nftablesAvailability({ native: withNft }), { backend: 'nftables', available: true })
  t.same(nftablesAvailability({ native: noAddon }), { backend: 'nftables', available: false, reason: 'berth native addon not found' })
  t.match(nftablesAvailability({ native: () => ({}) as NativeBinding }), { available: false, reason: /no nftRun/ })
  t.same(iptablesAvailability([4, 6], { iptablesTools: allTools }), { backend: 'iptables', available: true })
  t.same(iptablesAvailability([4, 6], { iptablesTools: only4 }), { backend: 'iptables', available: false, reason: 'ip6tables-restore, ip6tables-save not found' })
  t.same(iptablesAvailability([4], { iptablesTools: only4 }), { backend: 'iptables', available: true }, 'IPv4 only needs the IPv4 tools')
  t.same(probeFirewallBackends(probes(withNft, noTools)), {
    nftables: { backend: 'nftables', available: true },
    iptables: { backend: 'iptables', available: false, reason: 'iptables-restore, iptables-save, ip6tables-restore, ip6tables-save not found' },
  })
})

t.test('selection', async (t) => {
  t.equal(DEFAULT_FIREWALL_BACKEND, 'nftables')
  t.equal(selectFirewallBackend(undefined, probes(withNft, allTools)), 'nftables', 'default')
  t.equal(selectFirewallBackend('iptables', probes(withNft, allTools)), 'iptables', 'explicit')
  t.equal(selectFirewallBackend('auto', probes(noAddon, allTools)), 'iptables', 'auto falls back')
  t.equal(selectFirewallBackend('auto', probes(withNft, noTools)), 'nftables')
  t.throws(() => selectFirewallBackend(undefined, probes(noAddon, allTools)), { code: CniCode.NotAvailable, message: 'firewall backend nftables is not available: nftables: berth native addon not found' }, 'no silent fallback from an explicit choice')
  t.throws(() => selectFirewallBackend('iptables', probes(withNft, noTools)), { code: CniCode.NotAvailable, message: /firewall backend iptables is not available: iptables: iptables-restore/ })
  t.throws(() => selectFirewallBackend('auto', probes(noAddon, noTools)), { code: CniCode.NotAvailable, message: /firewall backend auto is not available: nftables: .*; iptables: / })
  t.throws(() => selectFirewallBackend('ipchains' as 'iptables'), { code: CniCode.InvalidConfig, message: /invalid firewall backend "ipchains"/ })
})

t.test('the real probes answer without touching the kernel', async (t) => {
  const r = probeFirewallBackends()
  t.type(r.nftables.available, 'boolean')
  t.type(r.iptables.available, 'boolean')
})
