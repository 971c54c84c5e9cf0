// DEL: remove this attachment's elements (nftables) or rules (iptables), found by the owner tag in their
// comments: no namespace and no prevResult needed, and a second DEL finds nothing and succeeds.
// Fixed chains, the hook rule and bridge isolation stay: other containers may rely on them.
import type { IpFamily } from '../../pkg/cni/ip-text.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { iptablesRestore } from '../../pkg/firewall/iptables.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseFirewallConfig } from './config.js'
import { filterTable, hasTools, teardownIptBatch, withIptablesLock } from './iptables.js'
import { apply, listTable, teardownBatch } from './nft.js'
import { ownerOf } from './owner.js'

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseFirewallConfig(a.conf)
  const o = ownerOf(cfg.netConf.name, a.containerId, a.ifName)
  const errors = new ErrorList()
  if (cfg.backend === 'nftables') {
    await errors.attempt('remove nftables elements', () => apply(undefined, teardownBatch(o, listTable(undefined))))
  } else {
    for (const f of [4, 6] as IpFamily[]) {
      if (!hasTools(f)) continue
      await errors.attempt(`remove ${f === 4 ? 'iptables' : 'ip6tables'} rules`, () =>
        withIptablesLock(async () => iptablesRestore(undefined, teardownIptBatch(f, o, await filterTable(f)))),
      )
    }
  }
  errors.throwIfAny(`failed to remove firewall rules of container ${a.containerId}`)
}
