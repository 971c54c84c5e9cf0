// ADD: let the container's addresses (from prevResult) through the host's forward path, and under
// ingressPolicy same-bridge isolate its bridge from the other same-bridge bridges. Returns prevResult.
import type { CniResult } from '../../pkg/cni/result.js'
import type { IpFamily } from '../../pkg/cni/ip-text.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { iptablesRestore } from '../../pkg/firewall/iptables.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseFirewallConfig, type FirewallConfig } from './config.js'
import { ensureHookRule, filterTable, setupIptBatch, withIptablesLock } from './iptables.js'
import { setupFirewall } from './nft.js'
import { ownerOf } from './owner.js'
import { bridgeOf, containerAddresses } from './prev-result.js'

export function prevResultOf(a: CmdArgs): CniResult {
  const prev = a.conf.prevResult
  if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'required prevResult missing: firewall is a chained plugin (list it after an interface plugin)')
  return prev
}

/** The bridge to isolate under same-bridge (CniError 7 when prevResult names none), else undefined. */
export function isolatedBridge(cfg: FirewallConfig, prev: CniResult): string | undefined {
  if (cfg.ingressPolicy !== 'same-bridge') return undefined
  const b = bridgeOf(prev)
  if (b === undefined) throw new CniError(CniCode.InvalidConfig, 'ingressPolicy "same-bridge" needs an interface in prevResult: chain firewall after bridge')
  if (!/^[^\s/:\0"]{1,15}$/.test(b)) throw new CniError(CniCode.InvalidConfig, `ingressPolicy "same-bridge": prevResult interface "${b}" is not a usable interface name`)
  return b
}

/** What ADD sets up and CHECK verifies for one attachment, derived from the config and prevResult. */
export function planAttachment(a: CmdArgs) {
  const cfg = parseFirewallConfig(a.conf)
  // The rules are the host's, but a container whose namespace is gone gets none (and CNI_NETNS is checked as everywhere).
  NetnsHandle.open(a.netns).close()
  const prev = prevResultOf(a)
  const bridge = isolatedBridge(cfg, prev)
  const addrs = containerAddresses(prev)
  const o = ownerOf(cfg.netConf.name, a.containerId, a.ifName)
  const families = [...new Set(addrs.map((x) => x.family))] as IpFamily[]
  return { cfg, prev, bridge, addrs, o, families }
}

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const { cfg, prev, bridge, addrs, o, families } = planAttachment(a)
  if (cfg.backend === 'nftables') {
    setupFirewall(o, cfg.forwardMark, addrs, bridge)
    for (const f of families) await ensureHookRule(f, cfg.forwardMark)
  } else {
    // The reference sets up the isolation chains for both families whatever the addresses.
    const fams: IpFamily[] = bridge !== undefined ? [4, 6] : families
    for (const f of fams) {
      const ips = addrs.filter((x) => x.family === f).map((x) => x.ip)
      await withIptablesLock(async () => iptablesRestore(undefined, setupIptBatch(f, o, cfg.adminChain, ips, bridge, await filterTable(f))))
    }
  }
  return structuredClone(prev)
}
