// Which networks a container gets, and attaching/detaching them through the chain runner (libcni's
// way: ADD in --net order with ifnames eth0, eth1, ...; DEL in reverse). Published ports go, as the
// portMappings capability, to the first network whose chain declares that capability (the one that
// can publish); asking for -p with no such network is an error rather than a silent no-op.
import { CniError } from '../../pkg/errors/cni-error.js'
import { describe } from '../../pkg/errors/describe.js'
import { CliError } from '../cli-error.js'
import { loadNetworkList, networkListFromBytes } from '../libcni/conf.js'
import { addNetworkList, delNetworkList } from '../libcni/runner.js'
import type { CniEnv, NetworkList, RuntimeConf } from '../libcni/types.js'
import type { PortMapping } from './host-ports.js'
import type { Attachment, ContainerState } from './state.js'

export type NetworkPlan = { mode: 'host' } | { mode: 'none' } | { mode: 'cni'; lists: NetworkList[]; publishIndex: number }

export const declaresCapability = (list: NetworkList, cap: string): boolean => list.plugins.some((p) => p.capabilities?.[cap] === true)

/**
 * Resolves the --net values (already defaulted) to a plan; throws CliError for an unknown network,
 * host/none mixed with others, duplicates, or ports that no network can publish.
 */
export function planNetworks(nets: readonly string[], confDir: string, wantsPorts: boolean): NetworkPlan {
  const special = nets.filter((n) => n === 'host' || n === 'none')
  if (special.length > 0 && nets.length > 1) {
    throw new CliError(`--net ${special[0]} cannot be combined with other networks`, `give --net ${special[0]} alone`)
  }
  if (nets[0] === 'host' || nets[0] === 'none') {
    if (wantsPorts) throw new CliError(`-p has no effect with --net ${nets[0]}`, nets[0] === 'host' ? 'the command already listens on the host: drop -p' : 'use a network that publishes ports, or drop -p')
    return { mode: nets[0] }
  }
  const seen = new Set<string>()
  const lists: NetworkList[] = []
  for (const n of nets) {
    if (seen.has(n)) throw new CliError(`network ${n} is given twice`, 'give each --net once')
    seen.add(n)
    try {
      lists.push(loadNetworkList(confDir, n))
    } catch (e) {
      // NetworkNotFoundError already says what to do; a bad name or an unreadable dir says why
      throw new CliError(`cannot use network ${n}: ${describe(e)}`)
    }
  }
  const publishIndex = lists.findIndex((l) => declaresCapability(l, 'portMappings'))
  if (wantsPorts && publishIndex < 0) {
    throw new CliError(`none of the networks ${nets.join(', ')} can publish ports (no plugin declares the portMappings capability)`, 'add a network with the portmap plugin, e.g. the default one, or drop -p')
  }
  return { mode: 'cni', lists, publishIndex }
}

export function runtimeConf(state: ContainerState, a: Attachment): RuntimeConf {
  return { containerId: state.id, netns: state.netns ?? '', ifName: a.ifName, args: [], capabilityArgs: a.capabilityArgs }
}

/** --ip / --mac for the first network (eth0), as the `ips` and `mac` capabilities. */
export interface StaticAddressing {
  ips: string[]
  mac?: string | undefined
}

/** Checks --ip/--mac against the plan: CNI networks only, and the first one must declare the capability. */
export function checkStaticAddressing(plan: NetworkPlan, s: StaticAddressing): void {
  const asked = [...(s.ips.length > 0 ? ['ips'] : []), ...(s.mac !== undefined ? ['mac'] : [])]
  if (asked.length === 0) return
  const flag = (cap: string) => (cap === 'ips' ? '--ip' : '--mac')
  if (plan.mode !== 'cni') throw new CliError(`${asked.map(flag).join(' and ')} need a CNI network, not --net ${plan.mode}`, 'drop them or choose a network')
  const first = plan.lists[0]
  for (const cap of asked) {
    if (first !== undefined && !declaresCapability(first, cap)) {
      throw new CliError(`network ${first.name} does not take ${flag(cap)} (no plugin declares the ${cap} capability)`, `use a network made by 'berth net create', or drop ${flag(cap)}`)
    }
  }
}

/** The attachment record for network `i` of the plan (before ADD). */
export function attachmentFor(list: NetworkList, i: number, publishIndex: number, ports: readonly PortMapping[], fixed: StaticAddressing = { ips: [] }): Attachment {
  const caps: Record<string, unknown> = {}
  if (i === publishIndex && ports.length > 0) caps['portMappings'] = ports
  if (i === 0 && fixed.ips.length > 0) caps['ips'] = fixed.ips
  if (i === 0 && fixed.mac !== undefined) caps['mac'] = fixed.mac
  return { network: list.name, ifName: `eth${i}`, config: Buffer.from(list.bytes).toString('base64'), capabilityArgs: caps }
}

/** ADD one attachment; the result is stored on it. */
export async function attach(state: ContainerState, a: Attachment, env: CniEnv): Promise<void> {
  const list = networkListFromBytes(Buffer.from(a.config, 'base64'), `network ${a.network}`)
  try {
    a.result = await addNetworkList(list, runtimeConf(state, a), env)
  } catch (e) {
    // the runner's message already carries the plugin's reason (its cause chain would repeat it)
    const why = e instanceof Error ? e.message : describe(e)
    throw new CliError(`cannot attach network ${a.network} (${a.ifName}): ${why}`, e instanceof CniError && e.code === 11 ? 'try again' : `check the network ('berth net inspect ${a.network}') and the options given`)
  }
}

/** DEL one attachment (idempotent: the runner tolerates a missing namespace and cache). */
export async function detach(state: ContainerState, a: Attachment, env: CniEnv): Promise<void> {
  const list = networkListFromBytes(Buffer.from(a.config, 'base64'), `network ${a.network}`)
  await delNetworkList(list, runtimeConf(state, a), env)
}
