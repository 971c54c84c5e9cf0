// STATUS: the chosen backend must be usable. GC (spec 1.1.0): remove this network's elements or rules
// whose attachment is not among cni.dev/valid-attachments.
import type { IpFamily } from '../../pkg/cni/ip-text.js'
import { validAttachments } from '../../pkg/cni/schema.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { selectFirewallBackend } from '../../pkg/firewall/driver.js'
import { iptablesRestore } from '../../pkg/firewall/iptables.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseFirewallConfig } from './config.js'
import { filterTable, gcIptBatch, hasTools, withIptablesLock } from './iptables.js'
import { apply, gcBatch, listTable } from './nft.js'
import { networkTag, ownerOf } from './owner.js'

export async function cmdStatus(a: CmdArgs): Promise<void> {
  const cfg = parseFirewallConfig(a.conf)
  selectFirewallBackend(cfg.backend)
}

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parseFirewallConfig(a.conf)
  const valid = validAttachments(cfg.netConf)
  if (valid === undefined) return
  const net = cfg.netConf.name
  const keep = new Set(valid.map((v) => ownerOf(net, v.containerID, v.ifname).tag))
  const netTag = networkTag(net)
  const errors = new ErrorList()
  if (cfg.backend === 'nftables') {
    await errors.attempt('nftables GC', () => apply(undefined, gcBatch(netTag, keep, listTable(undefined))))
  } else {
    for (const f of [4, 6] as IpFamily[]) {
      if (!hasTools(f)) continue
      await errors.attempt(`${f === 4 ? 'iptables' : 'ip6tables'} GC`, () => withIptablesLock(async () => iptablesRestore(undefined, gcIptBatch(f, netTag, keep, await filterTable(f)))))
    }
  }
  errors.throwIfAny(`GC of network ${net} failed`)
}
