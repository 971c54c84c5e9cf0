// ADD: save the original values of everything the configuration changes, then change it: sysctls first,
// then MAC, promiscuous mode, MTU, all-multicast mode and transmit queue length of CNI_IFNAME in the
// container (the reference's order). On failure, what was changed is put back and the state file goes.
// The result is prevResult, with the interface's MAC updated when it was changed.
import type { CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { changesLink, parseTuningConfig, type TuningConfig } from './config.js'
import { requireTunables, setTunable, type LinkTunables, type Tunable } from './iface.js'
import { readState, removeState, statePath, writeState, type TuningState } from './state.js'
import { getSysctl, setSysctl } from './sysctls.js'

const log = createLog('tuning')

/** The attributes the configuration sets, in the order they are applied. */
export function wanted(cfg: TuningConfig): { key: Tunable; value: LinkTunables[Tunable] }[] {
  const out: { key: Tunable; value: LinkTunables[Tunable] }[] = []
  if (cfg.mac !== undefined) out.push({ key: 'mac', value: cfg.mac })
  if (cfg.promisc !== undefined) out.push({ key: 'promisc', value: cfg.promisc })
  if (cfg.mtu !== undefined) out.push({ key: 'mtu', value: cfg.mtu })
  if (cfg.allmulti !== undefined) out.push({ key: 'allmulti', value: cfg.allmulti })
  if (cfg.txQLen !== undefined) out.push({ key: 'txQLen', value: cfg.txQLen })
  return out
}

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseTuningConfig(a.conf, a.args)
  const path = statePath(cfg.dataDir, a.containerId, a.ifName)
  const ns = NetnsHandle.open(a.netns)
  const rb = new Rollback()
  let rt: Rtnl | undefined
  try {
    const prev = a.conf.prevResult
    if (prev === undefined) throw new CniError(CniCode.InvalidConfig, 'required prevResult missing: tuning is a chained plugin (list it after an interface plugin)')
    const result: CniResult = structuredClone(prev)
    if (cfg.sysctl.length === 0 && !changesLink(cfg)) return result
    rt = openRtnl(ns)
    const cur = await requireTunables(rt, a.ifName, a.netns)
    // A repeated ADD keeps the originals saved by the first one.
    const before = readState(path)
    const state: TuningState = { ...before, owner: { network: cfg.netConf.name, containerID: a.containerId, ifName: a.ifName } }
    const steps = wanted(cfg)
    for (const { key } of steps) {
      if (state[key] === undefined && cur[key] !== undefined) (state as Record<string, unknown>)[key] = cur[key]
    }
    if (cfg.sysctl.length > 0) {
      const saved = { ...state.sysctl }
      for (const [k] of cfg.sysctl) saved[k] ??= getSysctl(ns, k)
      state.sysctl = saved
    }
    writeState(cfg.dataDir, path, state)
    rb.defer(`restore state file ${path}`, () => (before === undefined ? removeState(path) : writeState(cfg.dataDir, path, before)))

    for (const [k, v] of cfg.sysctl) {
      const old = getSysctl(ns, k)
      setSysctl(ns, k, v)
      rb.defer(`restore sysctl ${k}`, () => setSysctl(ns, k, old))
    }
    for (const { key, value } of steps) {
      const old = cur[key]
      const h = rt
      await setTunable(h, cur.index, key, value)
      if (old !== undefined) rb.defer(`restore ${key} of ${a.ifName}`, () => setTunable(h, cur.index, key, old))
    }
    if (cfg.mac !== undefined) {
      for (const i of result.interfaces ?? []) if (i.name === a.ifName) i.mac = cfg.mac
    }
    rb.commit()
    return result
  } finally {
    await rb.settle(log)
    rt?.close()
    ns.close()
  }
}
