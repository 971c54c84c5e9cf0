// dummy links (not built into every kernel: check before relying on them).
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import type { Rtnl } from './rtnl.js'

/** `ip link add NAME [mtu M] [address MAC] type dummy`; EEXIST if the name is taken. */
export async function createDummy(rt: Rtnl, spec: CommonLinkOptions & { readonly name: string }): Promise<void> {
  await createLinkOfKind(rt, { name: spec.name, kind: 'dummy', common: spec })
}
