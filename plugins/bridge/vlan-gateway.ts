// The gateway of a VLAN network (`vlan` with isGateway), as the reference's ensureVlanInterface: the
// containers are access ports of VLAN <vlan>, which the bridge's own port is not in, so the gateway
// addresses go on a veth pair in the host instead: "<bridge>.<vlan>" carries them, and its peer
// (veth<8 hex>) is an access port of the bridge in that VLAN (PVID, egress untagged; the default VLAN
// removed unless preserveDefaultVlan). Every container of the VLAN shares it: the first ADD creates it,
// later ones reuse it, DEL leaves it (as the reference does).
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { NetlinkError } from '../../pkg/errors/sys-error.js'
import { getLink, linkByName, setBridgePort, setLinkMaster, setLinkUp, type Link } from '../../pkg/link/link.js'
import type { Rtnl } from '../../pkg/link/rtnl.js'
import { createVethPair } from '../../pkg/link/veth.js'
import { setupPortVlans } from './bridge.js'
import type { BridgeConfig } from './config.js'
import { randomVethName } from './iface.js'

/** Longest interface name the kernel takes (IFNAMSIZ - 1). */
const IFNAME_MAX = 15
const PEER_NAME_TRIES = 10

export const vlanGatewayName = (bridge: string, vlan: number): string => `${bridge}.${vlan}`

/** CniError 7 when "<bridge>.<vlan>" cannot be an interface name; checked before ADD changes anything. */
export function checkVlanGatewayName(bridge: string, vlan: number): void {
  const name = vlanGatewayName(bridge, vlan)
  if (Buffer.byteLength(name) > IFNAME_MAX) {
    throw new CniError(
      CniCode.InvalidConfig,
      `invalid network configuration: bridge: the VLAN gateway interface "${name}" would be longer than ${IFNAME_MAX} bytes; use a shorter bridge name`,
    )
  }
}

/**
 * The "<bridge>.<vlan>" end, created (with its bridge port) when missing. `created` tells the caller to
 * delete it again if ADD fails. An existing link of that name that is not a veth is CniError 101.
 */
export async function ensureVlanGateway(
  rt: Rtnl,
  bridge: Link,
  cfg: Pick<BridgeConfig, 'vlan' | 'preserveDefaultVlan'>,
): Promise<{ link: Link; created: boolean }> {
  const name = vlanGatewayName(bridge.name, cfg.vlan)
  for (let i = 0; ; i++) {
    const have = await linkByName(rt, name)
    if (have !== undefined) {
      if (have.kind !== 'veth') throw new CniError(CniCode.LinkConflict, `VLAN gateway interface "${name}" exists and is a ${have.kind ?? 'device'}, not a veth`)
      return { link: have, created: false }
    }
    const peerName = randomVethName()
    try {
      await createVethPair(rt, { name, peerName, ...(bridge.mtu > 0 ? { mtu: bridge.mtu } : {}) })
    } catch (e) {
      // Another ADD made it meanwhile (then it is reused above), or the random peer name was taken.
      if (e instanceof NetlinkError && e.code === 'EEXIST' && i + 1 < PEER_NAME_TRIES) continue
      throw e
    }
    const peer = await getLink(rt, peerName)
    await setLinkMaster(rt, peer.index, bridge.index)
    await setBridgePort(rt, peer.index, { hairpin: false })
    await setupPortVlans(rt, peer, bridge, { vlan: cfg.vlan, vlanTrunk: [], preserveDefaultVlan: cfg.preserveDefaultVlan })
    await setLinkUp(rt, peer.index)
    const gw = await getLink(rt, name)
    await setLinkUp(rt, gw.index)
    return { link: await getLink(rt, gw.index), created: true }
  }
}
