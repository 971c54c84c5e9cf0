// A throw-away namespace together with an open NetnsHandle and an Rtnl bound to it, all closed in t.teardown.
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { createTestNetns, type TestNetns } from './netns.js'

export interface RtnlNetns {
  ns: TestNetns
  handle: NetnsHandle
  rt: Rtnl
}

interface Tap {
  teardown(fn: () => unknown): void
}

export async function createRtnlNetns(t: Tap): Promise<RtnlNetns> {
  const ns = await createTestNetns(t)
  const handle = NetnsHandle.open(ns.path)
  const rt = openRtnl(handle)
  t.teardown(() => {
    rt.close()
    handle.close()
  })
  return { ns, handle, rt }
}
