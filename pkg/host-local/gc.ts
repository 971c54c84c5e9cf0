// GC (CNI 1.1): release every reservation of this network whose attachment the runtime no longer lists
// (cni.dev/valid-attachments, or the older cni.dev/attachments), and every one berth recorded in an
// earlier boot (a network namespace does not survive a reboot, so no attachment can still use it).
// No list at all means the runtime asked for nothing: do nothing. An empty list means none is valid.
import { validAttachments } from '../cni/schema.js'
import { createLog } from '../log/log.js'
import { formatIp } from '../ip/cidr.js'
import type { CmdArgs } from '../skel/skel.js'
import { collect } from './allocator.js'
import { parseStoreLocation } from './config.js'
import { DiskStore } from './disk-store.js'

export async function cmdGc(a: CmdArgs): Promise<void> {
  const valid = validAttachments(a.conf)
  if (valid === undefined) return
  const store = DiskStore.openExisting(parseStoreLocation(a.conf))
  if (store === undefined) return
  const released = await store.locked(() => {
    const gone = collect(store, valid)
    store.sweep()
    return gone
  })
  if (released.length > 0) createLog('host-local').info(`GC released ${released.map((ip) => formatIp(ip.bytes)).join(', ')}`)
}
