// `berth rig down`: removes everything a rig made, also when `up` died halfway or `down` already ran.
//
// 1. Every process whose network namespace is one of the rig's (its hosts, its switch, or a container
//    namespace persisted under a host's BERTH_ROOT) gets SIGTERM, then SIGKILL if it lingers: containers,
//    `berth run` supervisors, agents and test servers started with `rig exec`.
// 2. Every mount under the rig's directory (persisted container namespaces) is detached.
// 3. The switch and host namespaces are unmounted and removed: their links, routes and firewall rules go
//    with them. Namespace names "R.switch" and "R.hostK" belong to rig R by construction (rig names have
//    no '.'), so leftovers with those names are removed even when rig.json is missing or damaged.
// 4. /run/berth/rigs/R is removed.
import { readdirSync, statSync } from 'node:fs'
import { describe } from '../../pkg/errors/describe.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import { createLog } from '../../pkg/log/log.js'
import { CliError } from '../cli-error.js'
import { beforeHostDown } from './drivers.js'
import { memberNetnsName, RIG_NETNS_DIR, rigDir, validRigName } from './layout.js'
import { mountsUnder, reap } from './reap.js'
import { readRig, withRigsLock, type RigInfo } from './store.js'

const log = createLog('berth rig')

export interface RigDownResult {
  /** false when there was nothing left of the rig */
  readonly removed: boolean
  /** processes that were signalled */
  readonly killed: number
}

export function rigDown(name: string): Promise<RigDownResult> {
  validRigName(name)
  return withRigsLock(async () => {
    let info: RigInfo | undefined
    try {
      info = readRig(name)
    } catch (e) {
      log.warn(`${describe(e)}; removing what is there`)
    }
    if (info !== undefined) {
      for (const host of info.hosts) {
        try {
          await beforeHostDown({ rig: info, host, reason: 'down' })
        } catch (e) {
          log.warn(`${name}/${host.name}: driver clean-up failed: ${describe(e)}`)
        }
      }
    }
    const dir = rigDir(name)
    const namespaces = rigNamespaces(name, info)
    const removed = info !== undefined || namespaces.length > 0 || mountsUnder(dir).length > 0 || exists(dir)
    const { killed, failures } = await reap(namespaces, [dir])
    if (failures.length > 0) {
      throw new CliError(`rig down ${name} left something behind: ${failures.join('; ')}`, `run 'berth rig down ${name}' again`)
    }
    return { removed, killed }
  })
}

/** The rig's namespace files: those in rig.json plus any "R.switch"/"R.hostK" left in /run/netns. */
function rigNamespaces(name: string, info: RigInfo | undefined): string[] {
  const out = new Set<string>()
  if (info !== undefined) for (const m of [info.switch, ...info.hosts]) out.add(m.netns)
  const ours = new RegExp(`^${name.replace(/[-]/g, '\\-')}\\.(switch|host[1-9][0-9]*)$`)
  let entries: string[] = []
  try {
    entries = readdirSync(RIG_NETNS_DIR)
  } catch (e) {
    if (errorCode(e) !== 'ENOENT') throw e
  }
  for (const e of entries) if (ours.test(e)) out.add(`${RIG_NETNS_DIR}/${e}`)
  // Only names that are still there: a second `down` finds nothing to do.
  return [...out].filter((p) => exists(p) && p.startsWith(`${RIG_NETNS_DIR}/${memberNetnsName(name, '')}`))
}

function exists(p: string): boolean {
  try {
    statSync(p)
    return true
  } catch {
    return false
  }
}
