// ADD: validate, plan the container's entries, refuse conflicts (another container's mapping or a host
// process listening on the port), then add every element in one nftables transaction, turn route_localnet
// on where 127.0.0.1 is published, and flush stale UDP/SCTP conntrack entries. Returns prevResult.
import type { CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { containerAddresses, parsePortmapConfig, refuseUnsupported, type ContainerAddr, type PortmapConfig } from './config.js'
import { flushConntrack, MAX_PORTS_PER_RANGE, type FlushSpec } from './conntrack.js'
import { hostListeners, listenerCovers } from './listeners.js'
import { enableRouteLocalnet } from './localnet.js'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import { addIptBatch, delIptBatch, iptablesPresent, masqArgs, restore, savedEntries, saveTables } from './ipt.js'
import { addBatch, apply, attachmentElements, hairpinElements, listedEntries, listTable, ownerTagOf, tableState, type ListedEntry } from './nft.js'
import { describeEntry, elementEntries, isShiftedRange, overlaps, ownerText, planEntries, portmapOwner, type Entry, type Owner } from './plan.js'
import { PortmapState, type OwnerRecord } from './records.js'
import { ensureOffsetNat } from './offset-nat.js'
import { removeAttachment, settleLegacy, syncLayout } from './sync.js'

const log = createLog('portmap')

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parsePortmapConfig(a.conf)
  refuseUnsupported(cfg)
  // The container's namespace must exist (CniError 4 otherwise), as for every berth plugin.
  NetnsHandle.open(a.netns).close()
  const prev = a.conf.prevResult
  if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'portmap must be called as a chained plugin: prevResult is missing')
  const result: CniResult = { ...prev, cniVersion: a.conf.cniVersion }
  if (cfg.mappings.length === 0) return result

  const addrs = containerAddresses(prev)
  const entries = planEntries(cfg.mappings, addrs)
  if (entries.length === 0) return result
  if (entries.some((e) => e.family === 6 && e.hostIP === '::1')) {
    log.warn('hostIP ::1 cannot be forwarded (IPv6 has no route_localnet); use a host IPv6 address instead')
  }
  const owner = portmapOwner(cfg.netConf.name, a.containerId, a.ifName)
  // 127.0.0.1 reaches the container only with route_localnet on its host interface and masquerading.
  const localhost = cfg.snat && entries.some((e) => e.family === 4 && (e.hostIP === undefined || e.hostIP.startsWith('127.')))
  const hairpin = cfg.snat ? Object.values(addrs).flatMap((c) => hairpinElements(c.cidr, localhost)) : []

  // Serialises check-then-apply between concurrent ADDs (and DELs) in this host namespace.
  const state = PortmapState.open()
  await state.locked(async () => {
    if (cfg.backend === 'iptables') {
      await addIptables(cfg, state, owner, entries, addrs, localhost, prev)
      return
    }
    const ts = syncLayout(state, a.env)
    refuseRecorded(state, entries, owner.tag, () => true)
    // Elements without records may exist (a table of the first layout): check them the slow way.
    const listing = state.legacy ? listTable(undefined) : undefined
    if (listing !== undefined) refuseConflicts(entries, owner.tag, listedEntries(listing))
    refuseListeners(entries)
    if (localhost && addrs[4] !== undefined) await enableRouteLocalnet(addrs[4].ip, prev, log)
    if (ts.offsetNat && entries.some(isShiftedRange)) ensureOffsetNat(ts.gen!)
    // A repeated ADD of the attachment replaces what it added before.
    removeAttachment(state, owner.tag, state.readOwner(owner.tag))
    const elements = attachmentElements(owner, elementEntries(entries, ts.offsetNat))
    const rec = ownerRecord(owner, 'nftables', entries, elements, hairpin)
    // Recorded before the kernel change: a crash leaves a record DEL and GC can use.
    state.record(rec)
    try {
      // Shared hairpin elements are added every time: adding an existing one changes nothing, and a small set.
      apply(undefined, addBatch([...elements, ...hairpin], localhost && !ts.guard))
    } catch (e) {
      state.forget(rec)
      // The kernel refused a key someone holds without a record (made behind our back): name them if we can.
      if (listing === undefined) refuseConflicts(entries, owner.tag, listedEntries(listTable(undefined) ?? []))
      throw e
    }
    if (listing !== undefined) settleLegacy(state, listing, owner.tag)
  })
  await flushConntrack(addFlushes(entries), log)
  return result
}

function ownerRecord(owner: Owner, backend: OwnerRecord['backend'], entries: Entry[], elements: OwnerRecord['elements'], hairpin: OwnerRecord['hairpin']): OwnerRecord {
  return { version: 1, tag: owner.tag, netTag: owner.netTag, comment: owner.comment, backend, entries, elements, hairpin }
}

/** The iptables backend: the same checks, then one iptables-restore per family (undone if a later one fails). */
async function addIptables(cfg: PortmapConfig, state: PortmapState, owner: Owner, entries: readonly Entry[], addrs: Partial<Record<IpFamily, ContainerAddr>>, localhost: boolean, prev: CniResult): Promise<void> {
  const families = ([4, 6] as const).filter((f) => entries.some((e) => e.family === f))
  const saved = new Map<IpFamily, Awaited<ReturnType<typeof saveTables>>>()
  const listed: ListedEntry[] = []
  for (const f of families) {
    if (!iptablesPresent(f)) throw new CniError(CniCode.NotAvailable, `${f === 6 ? 'ip6tables' : 'iptables'}-restore/-save not found: install iptables or use the nftables backend`)
    const t = await saveTables(f)
    saved.set(f, t)
    listed.push(...savedEntries(f, t.nat))
  }
  // Records are trusted as far as the kernel confirms them: iptables owners by their rules, nftables
  // owners by the table's generation (records of a namespace that had the same inode are stale).
  const ts = tableState(undefined)
  const nftValid = ts.gen !== undefined && ts.gen === state.generation()
  const iptTags = new Set(listed.map((l) => ownerTagOf(l.element)))
  refuseRecorded(state, entries, owner.tag, (o) => (o.backend === 'iptables' ? iptTags.has(o.tag) : nftValid))
  if (ts.exists && (!nftValid || state.legacy)) listed.push(...listedEntries(listTable(undefined) ?? []))
  refuseConflicts(entries, owner.tag, listed)
  refuseListeners(entries)
  if (localhost && addrs[4] !== undefined) await enableRouteLocalnet(addrs[4].ip, prev, log)
  const rec = ownerRecord(owner, 'iptables', [...entries], [], [])
  state.record(rec)
  const done: IpFamily[] = []
  try {
    for (const f of families) {
      const c = addrs[f]
      const masq = cfg.snat && c !== undefined ? masqArgs(c, localhost) : []
      const conditions = f === 4 ? cfg.conditionsV4 : cfg.conditionsV6
      await restore(addIptBatch(f, owner, entries.filter((e) => e.family === f), masq, localhost, saved.get(f)!, conditions))
      done.push(f)
    }
  } catch (e) {
    for (const f of done) {
      try {
        await restore(delIptBatch(f, owner, (await saveTables(f)).nat).batch)
      } catch (u) {
        log.warn(`rollback of IPv${f} iptables rules failed: ${u instanceof Error ? u.message : String(u)}`)
      }
    }
    state.forget(rec)
    throw e
  }
}

/** Conflicts found by reservation records (no listing); `live` confirms a holder before it is believed. */
function refuseRecorded(state: PortmapState, entries: readonly Entry[], myTag: string, live: (o: OwnerRecord) => boolean): void {
  const h = state.findHolder(entries, myTag, live)
  if (h === undefined) return
  const mine = entries.find((e) => overlaps(e, h.entry)) ?? entries[0]!
  throw new CniError(CniCode.InvalidConfig, `host port ${describeEntry(mine)} is already mapped: ${describeEntry(h.entry)} belongs to ${ownerText(h.owner.comment)}`)
}

function refuseConflicts(entries: readonly Entry[], myTag: string, listed: readonly ListedEntry[]): void {
  for (const e of entries) {
    const other = listed.find((l) => ownerTagOf(l.element) !== myTag && overlaps(e, l))
    if (other !== undefined) {
      throw new CniError(
        CniCode.InvalidConfig,
        `host port ${describeEntry(e)} is already mapped: ${describeEntry(other)} belongs to ${ownerText(other.element.comment)}`,
      )
    }
  }
}

function refuseListeners(entries: readonly Entry[]): void {
  const listeners = hostListeners()
  for (const e of entries) {
    for (let p = e.hostPort; p <= e.hostPortEnd; p++) {
      const l = listeners.find((x) => x.protocol === e.protocol && listenerCovers(x, e.family, e.hostIP, p))
      if (l === undefined) continue
      const where = `${l.family === 6 ? `[${l.ip}]` : l.ip}:${p}/${l.protocol}`
      // TCP: a listening host process would lose its connections. UDP: only logged, since runtimes (podman
      // with CNI) may hold the mapped UDP ports open themselves to reserve them.
      if (e.protocol === 'tcp') throw new CniError(CniCode.InvalidConfig, `host port ${describeEntry({ ...e, hostPort: p, hostPortEnd: p })} is in use: a host process listens on ${where}`)
      log.warn(`host port ${p}/${e.protocol} is also bound by a host process on ${where}; mapped traffic goes to the container`)
    }
  }
}

/**
 * The entries a packet to a new host port can match: as the original direction of a flow to the port, or
 * as the reply direction of one the host sent from it. The latter appears when the host process answers,
 * after the flush, a packet queued before it: its answer re-creates the flow the other way round, and the
 * client's next packets match that entry, never NEW, so never DNATed. Such answers can cross any delete,
 * so the second is rechecked (flushConntrack) (pure, for tests).
 */
export function addFlushes(entries: readonly Entry[]): FlushSpec[] {
  const out: FlushSpec[] = []
  for (const e of entries) {
    if (e.protocol === 'tcp') continue
    const last = Math.min(e.hostPortEnd, e.hostPort + MAX_PORTS_PER_RANGE - 1)
    for (let p = e.hostPort; p <= last; p++) {
      const reply: FlushSpec = { family: e.family, protocol: e.protocol, replyPortDst: p, ...(e.hostIP === undefined ? {} : { replyDst: e.hostIP }) }
      out.push({ family: e.family, protocol: e.protocol, origPortDst: p, ...(e.hostIP === undefined ? {} : { origDst: e.hostIP }), recheck: reply })
    }
  }
  return out
}

export type { PortmapConfig }
