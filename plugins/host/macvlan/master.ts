// The macvlan's master (its parent link): the configured one, or the interface of the first default route
// in the main table (IPv4, then IPv6), as the reference picks it. Looked up in the host's namespace, or in
// the container's with linkInContainer. A master that is not there is a configuration error (7) naming it.
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { linkByIndex, linkByName, type Link } from '../../../pkg/link/link.js'
import { listRoutes } from '../../../pkg/link/route.js'
import type { Rtnl } from '../../../pkg/link/rtnl.js'
import type { MacvlanConfig } from './config.js'

const invalid = (key: string, msg: string) => new CniError(CniCode.InvalidConfig, `invalid network configuration: ${key}: ${msg}`, `${key}: ${msg}`)

/** Where the master is looked up, for messages. */
export function masterPlace(cfg: Pick<MacvlanConfig, 'linkInContainer'>, netns: string): string {
  return cfg.linkInContainer ? `the container's namespace ${netns}` : 'the host namespace'
}

/** The master link, checked against the configured MTU; `place` names the namespace `rt` works in. */
export async function findMaster(rt: Rtnl, cfg: Pick<MacvlanConfig, 'master' | 'mtu'>, place: string): Promise<Link> {
  const master = cfg.master === undefined ? await defaultRouteLink(rt, place) : await linkByName(rt, cfg.master)
  if (master === undefined) throw invalid('master', `interface ${JSON.stringify(cfg.master)} not found in ${place}; set "master" to an existing interface`)
  if (cfg.mtu !== undefined && cfg.mtu > master.mtu) {
    throw invalid('mtu', `${cfg.mtu} is larger than the MTU of master ${master.name} (${master.mtu}); give at most ${master.mtu}, or 0 for the master's`)
  }
  return master
}

async function defaultRouteLink(rt: Rtnl, place: string): Promise<Link> {
  for (const family of [4, 6] as const) {
    for (const r of await listRoutes(rt, { family })) {
      if (!r.dst.endsWith('/0') || r.devIndex === undefined) continue
      const link = await linkByIndex(rt, r.devIndex)
      if (link !== undefined) return link
    }
  }
  throw invalid('master', `not set, and ${place} has no default route to take its interface from; set "master" to the parent interface`)
}
