// DEL: put back what ADD changed, from the state file, and remove the file. Idempotent and tolerant:
// no state file means nothing to do; a missing CNI_NETNS, a namespace that is gone or an interface that
// is gone mean there is nothing left to restore, so the file is simply removed. The file stays when a
// restore fails, so a retried DEL can finish the job.
import { ErrorList } from '../../pkg/errors/error-list.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseTuningConfig } from './config.js'
import { readTunables, setTunable, type Tunable } from './iface.js'
import { readState, removeState, statePath } from './state.js'
import { setSysctl } from './sysctls.js'

const log = createLog('tuning')
// MTU before MAC as in the reference; all of them are independent.
const ORDER: readonly Tunable[] = ['mtu', 'mac', 'promisc', 'allmulti', 'txQLen']

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseTuningConfig(a.conf, a.args, { strict: false })
  const path = statePath(cfg.dataDir, a.containerId, a.ifName)
  const state = readState(path)
  if (state === undefined) return
  if (a.netns === '') {
    removeState(path)
    return
  }
  let ns: NetnsHandle
  try {
    ns = NetnsHandle.open(a.netns)
  } catch (e) {
    if (!(e instanceof NetnsNotFoundError)) throw e
    log.info(`DEL: namespace ${a.netns} is gone (${e.errnoCode}): nothing to restore`)
    removeState(path)
    return
  }
  const rt = openRtnl(ns)
  const errors = new ErrorList()
  try {
    const cur = await readTunables(rt, a.ifName)
    if (cur !== undefined) {
      for (const key of ORDER) {
        const v = state[key]
        if (v === undefined || cur[key] === v) continue
        await errors.attempt(`restore ${key} of ${a.ifName}`, () => setTunable(rt, cur.index, key, v))
      }
    } else {
      log.info(`DEL: ${a.ifName} is gone from ${a.netns}: no interface attribute to restore`)
    }
    for (const [k, v] of Object.entries(state.sysctl ?? {})) {
      await errors.attempt(`restore sysctl ${k}`, () => setSysctl(ns, k, v))
    }
  } finally {
    rt.close()
    ns.close()
  }
  errors.throwIfAny(`failed to restore ${a.ifName} of container ${a.containerId}`)
  removeState(path)
}
