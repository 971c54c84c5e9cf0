// CHECK: every configured value is what the container has now (sysctls, then the interface's attributes).
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { wanted } from './add.js'
import { parseTuningConfig } from './config.js'
import { requireTunables } from './iface.js'
import { getSysctl, sameSysctlValue } from './sysctls.js'

export async function cmdCheck(a: CmdArgs): Promise<void> {
  const cfg = parseTuningConfig(a.conf, a.args)
  const ns = NetnsHandle.open(a.netns)
  try {
    if (a.conf.prevResult === undefined) throw new CniError(CniCode.InvalidConfig, 'required prevResult missing: tuning is a chained plugin (list it after an interface plugin)')
    for (const [k, v] of cfg.sysctl) {
      const cur = getSysctl(ns, k)
      if (!sameSysctlValue(cur, v)) throw new CniError(CniCode.KernelFailure, `tuning: sysctl ${k} is ${JSON.stringify(cur)}, configured ${JSON.stringify(v)}`)
    }
    const rt = openRtnl(ns)
    try {
      const cur = await requireTunables(rt, a.ifName, a.netns)
      for (const { key, value } of wanted(cfg)) {
        if (cur[key] !== value) {
          throw new CniError(CniCode.KernelFailure, `tuning: ${key} of ${a.ifName} is ${String(cur[key])}, configured ${String(value)}`)
        }
      }
    } finally {
      rt.close()
    }
  } finally {
    ns.close()
  }
}
