// CHECK: every address of prevResult is let through for this attachment (element with its owner, or
// its two rules), and the fixed parts are in place (chain, hook rule, isolation for same-bridge).
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { planAttachment } from './add.js'
import { checkIpt, existingFilterTable, filterTable, hasTools, hookArgs, HOOK_COMMENT } from './iptables.js'
import { checkListing, listTable } from './nft.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const { cfg, bridge, addrs, o, families } = planAttachment(a)
  const problems: string[] = []
  if (cfg.backend === 'nftables') {
    problems.push(...checkListing(o, addrs, bridge, listTable(undefined)))
    for (const f of families) {
      if (!hasTools(f)) continue
      const tbl = await existingFilterTable(f)
      if (tbl === undefined || !tbl.chains.has('FORWARD')) continue
      const args = hookArgs(cfg.forwardMark)
      if (!tbl.rules.some((r) => r.chain === 'FORWARD' && r.comment === HOOK_COMMENT && r.args.join(' ') === args.join(' '))) {
        problems.push(`${f === 4 ? 'iptables' : 'ip6tables'}: FORWARD lacks the rule accepting mark ${args[3]}`)
      }
    }
  } else {
    for (const f of families) {
      const ips = addrs.filter((x) => x.family === f).map((x) => x.ip)
      problems.push(...checkIpt(f, o, cfg.adminChain, ips, bridge, await filterTable(f)))
    }
  }
  if (problems.length > 0) throw new CniError(CniCode.FirewallFailed, `firewall check failed for container ${a.containerId}: ${problems[0]}`, problems.join('\n'))
}
