// ADD: validate, plan the container's entries, refuse conflicts (another container's mapping or a host
// process listening on the port), then add every element in one nftables transaction, turn route_localnet
// on where 127.0.0.1 is published, and flush stale UDP/SCTP conntrack entries. Returns prevResult.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { withLock } from '../../pkg/lock/lock.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { containerAddresses, parsePortmapConfig, refuseUnsupported, type ContainerAddr, type PortmapConfig } from './config.js'
import { flushConntrack, MAX_PORTS_PER_RANGE, type FlushSpec } from './conntrack.js'
import { hostListeners, listenerCovers } from './listeners.js'
import { enableRouteLocalnet } from './localnet.js'
import type { IpFamily } from '../../pkg/ip/cidr.js'
import { addIptBatch, delIptBatch, iptablesPresent, masqArgs, restore, savedEntries, saveTables } from './ipt.js'
import { addBatch, apply, declareFixed, hairpinElements, listedEntries, listTable, ownerTagOf, type ListedEntry } from './nft.js'
import { describeEntry, elementEntries, overlaps, ownerText, planEntries, portmapOwner, type Entry, type Owner } from './plan.js'

const log = createLog('portmap')
/** Serialises check-then-apply between concurrent ADDs on one host (the kernel would refuse exact duplicates only). */
export const LOCK_PATH = '/run/berth/portmap.lock'

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
  const hairpin = cfg.snat ? Object.values(addrs).flatMap((c) => hairpinElements(c.cidr, localhost, owner.comment)) : []

  mkdirSync(dirname(LOCK_PATH), { recursive: true, mode: 0o755 })
  await withLock(LOCK_PATH, async () => {
    const listing = listTable(undefined)
    const listed: ListedEntry[] = listing === undefined ? [] : listedEntries(listing)
    if (cfg.backend === 'iptables') {
      await addIptables(cfg, owner, entries, addrs, localhost, listed, prev)
      return
    }
    refuseConflicts(entries, owner.tag, listed)
    refuseListeners(entries)
    if (localhost && addrs[4] !== undefined) await enableRouteLocalnet(addrs[4].ip, prev, log)
    declareFixed(undefined, localhost)
    apply(undefined, addBatch(owner, { entries: elementEntries(entries), hairpin, guard: localhost }, listing))
  })
  flushConntrack(addFlushes(entries), log)
  return result
}

/** The iptables backend: the same checks, then one iptables-restore per family (undone if a later one fails). */
async function addIptables(cfg: PortmapConfig, owner: Owner, entries: readonly Entry[], addrs: Partial<Record<IpFamily, ContainerAddr>>, localhost: boolean, listed: ListedEntry[], prev: CniResult): Promise<void> {
  const families = ([4, 6] as const).filter((f) => entries.some((e) => e.family === f))
  const saved = new Map<IpFamily, Awaited<ReturnType<typeof saveTables>>>()
  for (const f of families) {
    if (!iptablesPresent(f)) throw new CniError(CniCode.NotAvailable, `${f === 6 ? 'ip6tables' : 'iptables'}-restore/-save not found: install iptables or use the nftables backend`)
    const t = await saveTables(f)
    saved.set(f, t)
    listed.push(...savedEntries(f, t.nat))
  }
  refuseConflicts(entries, owner.tag, listed)
  refuseListeners(entries)
  if (localhost && addrs[4] !== undefined) await enableRouteLocalnet(addrs[4].ip, prev, log)
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
    throw e
  }
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

export function addFlushes(entries: readonly Entry[]): FlushSpec[] {
  const out: FlushSpec[] = []
  for (const e of entries) {
    if (e.protocol === 'tcp') continue
    const last = Math.min(e.hostPortEnd, e.hostPort + MAX_PORTS_PER_RANGE - 1)
    for (let p = e.hostPort; p <= last; p++) out.push({ family: e.family, protocol: e.protocol, origPortDst: p, ...(e.hostIP === undefined ? {} : { origDst: e.hostIP }) })
  }
  return out
}

export type { PortmapConfig }
