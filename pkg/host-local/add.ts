// ADD: one address from each range set, all under one hold of the network's lock, so concurrent ADDs
// (many processes) never hand out one address twice. A failure in set k releases what sets 0..k-1 got.
import type { CniResult } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { formatIp, type IpAddr } from '../ip/cidr.js'
import type { CmdArgs } from '../skel/skel.js'
import { allocate, ipConfigOf, type Allocation } from './allocator.js'
import { parseHostLocalConfig, type HostLocalConfig } from './config.js'
import { DiskStore } from './disk-store.js'
import { rangeSetContains } from './range-set.js'
import { readResolvConf } from './resolv-conf.js'

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseHostLocalConfig(a.conf, a.args)
  const dns = cfg.resolvConf === undefined ? undefined : readResolvConf(cfg.resolvConf)
  const requested = requestedPerSet(cfg)
  const owner = { containerId: a.containerId, ifName: a.ifName }
  const store = DiskStore.create(cfg)
  const allocations = await store.locked(() => {
    const done: Allocation[] = []
    try {
      cfg.rangeSets.forEach((set, index) => {
        const ip = requested[index]
        done.push(allocate(store, { set, index, owner, network: cfg.name, ...(ip === undefined ? {} : { requested: ip }) }))
      })
    } catch (e) {
      for (const d of done) if (d.fresh) store.release(d.ip)
      throw e
    }
    return done
  })
  const result: CniResult = { cniVersion: a.conf.cniVersion, ips: allocations.map(ipConfigOf) }
  if (cfg.routes.length > 0) result.routes = cfg.routes
  if (dns !== undefined) result.dns = dns
  return result
}

/** Each requested address goes to the first set containing it; two for one set cannot both be given. */
function requestedPerSet(cfg: HostLocalConfig): (IpAddr | undefined)[] {
  const out: (IpAddr | undefined)[] = cfg.rangeSets.map(() => undefined)
  for (const r of cfg.requested) {
    const i = cfg.rangeSets.findIndex((s) => rangeSetContains(s, r.ip))
    const prev = out[i]
    if (prev !== undefined) {
      throw new CniError(CniCode.InvalidConfig, `invalid ${r.from}: requested IPs ${formatIp(prev.bytes)} and ${formatIp(r.ip.bytes)} are in the same range set; each range set gives one address`)
    }
    out[i] = r.ip
  }
  return out
}
