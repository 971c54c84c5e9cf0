// ifb (intermediate functional block) links: a queue that traffic redirected from another link's ingress
// goes through, so it can be shaped as egress (the bandwidth plugin's container → host direction).
import { createLinkOfKind, type CommonLinkOptions } from './new-link.js'
import type { Rtnl } from './rtnl.js'

/** `ip link add NAME [mtu M] type ifb`; EEXIST if the name is taken. */
export async function createIfb(rt: Rtnl, spec: CommonLinkOptions & { readonly name: string }): Promise<void> {
  await createLinkOfKind(rt, { name: spec.name, kind: 'ifb', common: spec })
}
