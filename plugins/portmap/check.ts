// CHECK: every element the capability and prevResult call for is in the table, owned by this attachment,
// with the same target; the fixed rules are there. CniError 103 naming what is missing.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { rulesOf } from '../../pkg/firewall/nft.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { containerAddresses, parsePortmapConfig, refuseUnsupported } from './config.js'
import { DNAT_CHAIN, savedEntries, saveTables } from './ipt.js'
import { offsetNatIntact } from './offset-nat.js'
import { CHAINS, listedEntries, listTable, OFFSET_NAT_MARKER, ownerTagOf, SHIFT_CHAIN, TABLE, type ListedEntry } from './nft.js'
import { describeEntry, elementEntries, isShiftedRange, planEntries, portmapOwner, singlePorts, type Entry } from './plan.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parsePortmapConfig(a.conf)
  refuseUnsupported(cfg)
  NetnsHandle.open(a.netns).close()
  const prev = a.conf.prevResult
  if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'portmap CHECK needs prevResult')
  const planned = planEntries(cfg.mappings, containerAddresses(prev))
  if (planned.length === 0) return
  const fail = (what: string) => new CniError(CniCode.KernelFailure, `port mapping check failed: ${what}`)
  const tag = portmapOwner(cfg.netConf.name, a.containerId, a.ifName).tag
  let entries: Entry[]
  let mine: ListedEntry[]
  if (cfg.backend === 'iptables') {
    // One rule per coalesced entry (shifted ranges included).
    entries = planned
    mine = []
    for (const f of [4, 6] as const) {
      if (!planned.some((e) => e.family === f)) continue
      const { nat } = await saveTables(f)
      if (nat === undefined || !nat.chains.has(DNAT_CHAIN)) throw fail(`chain ${DNAT_CHAIN} does not exist (IPv${f})`)
      mine.push(...savedEntries(f, nat).filter((l) => ownerTagOf(l.element) === tag))
    }
  } else {
    const listing = listTable(undefined)
    if (listing === undefined) throw fail(`nftables table inet ${TABLE} does not exist`)
    const offsetNat = listing.some((o) => o['chain']?.['name'] === OFFSET_NAT_MARKER)
    const chains = [CHAINS.prerouting, CHAINS.output, CHAINS.dnat, ...(offsetNat ? [SHIFT_CHAIN] : [])]
    for (const chain of chains) if (rulesOf(listing, chain).length === 0) throw fail(`chain ${chain} of table ${TABLE} has no rules`)
    entries = elementEntries(planned, offsetNat)
    if (entries.some(isShiftedRange) && !offsetNatIntact()) {
      throw fail(`the DNAT rule of chain ${SHIFT_CHAIN} lost its port-offset flag (a ruleset restored with nft?), so shifted ranges reach random ports; the next ADD of a shifted range restores it`)
    }
    mine = listedEntries(listing).filter((l) => ownerTagOf(l.element) === tag)
  }
  for (const e of entries) {
    // A shifted range added before the table had the offset rules (layout 2) is one element per port.
    const alt = isShiftedRange(e) && find(mine, e) === undefined ? singlePorts(e) : [e]
    for (const x of alt) {
      const found = find(mine, x)
      if (found === undefined) throw fail(`${describeEntry(e)} is not mapped to this container`)
      if (found.containerIP !== x.containerIP || found.containerPort !== x.containerPort) {
        throw fail(`${describeEntry(x)} goes to ${found.containerIP}:${String(found.containerPort)}, not ${x.containerIP}:${x.containerPort}`)
      }
    }
  }
}

const find = (mine: readonly ListedEntry[], e: Entry) =>
  mine.find((l) => l.family === e.family && l.hostIP === e.hostIP && l.protocol === e.protocol && l.hostPort === e.hostPort && l.hostPortEnd === e.hostPortEnd)
