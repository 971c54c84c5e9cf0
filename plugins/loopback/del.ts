// DEL: bring lo down when the namespace still exists. Always succeeds: a namespace that is gone, or a
// lo that cannot be touched, leaves nothing on the host to clean up (the reference fails in some of
// these cases; the spec asks DEL to succeed when the container is already gone).
import { describe } from '../../pkg/errors/describe.js'
import { setLinkDown } from '../../pkg/link/link.js'
import { createLog } from '../../pkg/log/log.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { withLoopback } from './lo.js'

export async function cmdDel(a: CmdArgs): Promise<void> {
  if (a.netns === '') return
  try {
    await withLoopback(a.netns, (rt, lo) => setLinkDown(rt, lo))
  } catch (e) {
    createLog('loopback').info(`DEL: nothing to do in ${a.netns}: ${describe(e)}`)
  }
}
