// STATUS and GC (spec 1.1.0). A macvlan lives only in its container's namespace and dies with it, so
// there is nothing of the plugin's own on the host to collect: GC is the IPAM plugin's (with the
// runtime's list of valid attachments), as the bridge does it. STATUS asks the IPAM plugin, and, for a
// master in the host's namespace, whether it is there (50 when it is not: no ADD could succeed).
import { validAttachments } from '../../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../../pkg/errors/cni-error.js'
import { describe } from '../../../pkg/errors/describe.js'
import { delegateRun } from '../../../pkg/invoke/delegate.js'
import { hasIpam, ipamTarget } from '../../../pkg/ipam/target.js'
import { openRtnl } from '../../../pkg/link/rtnl.js'
import type { CmdArgs } from '../../../pkg/skel/skel.js'
import { parseMacvlanConfig } from './config.js'
import { findMaster, masterPlace } from './master.js'

export async function cmdStatus(a: CmdArgs): Promise<void> {
  const cfg = parseMacvlanConfig(a.conf, new Map())
  if (!cfg.linkInContainer) {
    const rt = openRtnl()
    try {
      await findMaster(rt, cfg, masterPlace(cfg, ''))
    } catch (e) {
      if (!(e instanceof CniError && e.code === CniCode.InvalidConfig)) throw e
      throw new CniError(CniCode.NotAvailable, `macvlan not available: ${describe(e).replace(/^invalid network configuration: /, '')}`, undefined, { cause: e })
    } finally {
      rt.close()
    }
  }
  if (hasIpam(a)) await delegateRun(ipamTarget(a), 'STATUS')
}

export async function cmdGc(a: CmdArgs): Promise<void> {
  // No list: the runtime asked for nothing to be collected.
  if (validAttachments(a.conf) === undefined) return
  if (hasIpam(a)) await delegateRun(ipamTarget(a), 'GC')
}
