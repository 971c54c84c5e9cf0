// ADD: bridge, veth pair, IPAM, addresses and routes, gateway, NAT. Everything is validated before the
// first change; every change registers its undo, so a failure leaves the host as it was.
import type { CniDns, CniInterface, CniResult } from '../../pkg/cni/result.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { delegateAdd, delegateDel } from '../../pkg/invoke/delegate.js'
import { delLinkIfExists, getLink, linkByName, setBridgePort, setLinkMaster, setLinkUp, type Link } from '../../pkg/link/link.js'
import { openRtnl, type Rtnl } from '../../pkg/link/rtnl.js'
import { describe } from '../../pkg/errors/describe.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle } from '../../pkg/ns/netns.js'
import { configureIface } from '../../pkg/ipam/configure.js'
import { ipamTarget } from '../../pkg/ipam/target.js'
import { Rollback } from '../../pkg/rollback/rollback.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { enableForwarding, ensureGatewayAddress, removeBridgeIfUnused, setupBridge, setupPortVlans } from './bridge.js'
import { parseBridgeConfig } from './config.js'
import { checkVlanGatewayName, ensureVlanGateway } from './vlan-gateway.js'
import { masqOwner, natKeys, setupMasquerade, teardownMasquerade } from './masq.js'
import { BridgeState, type AttachmentRecord } from './state.js'
import { setupIptMasquerade, teardownIptMasquerade } from './masq-iptables.js'
import { setupSpoofCheck, teardownSpoofCheck } from './spoofchk.js'
import { containerSysctls, createVeth, planGateways, tagHostVeth } from './iface.js'

const log = createLog('bridge')
/** Index of the container interface in result.interfaces: [bridge, host veth, container]. */
const CONTAINER_INDEX = 2

export async function cmdAdd(a: CmdArgs): Promise<CniResult> {
  const cfg = parseBridgeConfig(a.conf, a.args)
  if (cfg.vlan !== 0 && cfg.isGateway && cfg.layer3) checkVlanGatewayName(cfg.bridge, cfg.vlan)
  const cont = NetnsHandle.open(a.netns)
  const host = NetnsHandle.current()
  let rtCont: Rtnl | undefined
  let rtHost: Rtnl | undefined
  const rb = new Rollback()
  try {
    rtCont = openRtnl(cont)
    rtHost = openRtnl()
    const rc = rtCont
    const rh = rtHost
    if ((await linkByName(rc, a.ifName)) !== undefined) {
      throw new CniError(CniCode.LinkConflict, `container interface "${a.ifName}" already exists in ${a.netns}`)
    }

    // 1. The bridge (created or reused).
    const br = await setupBridge(rh, cfg, log)
    if (br.created) rb.defer(`delete bridge ${cfg.bridge}`, () => removeBridgeIfUnused(rh, br.link))

    // The attachment's record (state.ts), rewritten before each kernel change it names so that DEL finds
    // exactly what was made without listing. Kept from an earlier ADD of the same attachment: what that
    // one recorded must still be removed by DEL.
    const owner = masqOwner(cfg.netConf.name, a.containerId, a.ifName)
    const state = BridgeState.current()
    const earlier = state.read(owner.tag)
    const rec: Omit<AttachmentRecord, 'v'> = {
      network: cfg.netConf.name,
      containerId: a.containerId,
      ifName: a.ifName,
      ...(earlier?.nat ? { nat: earlier.nat } : {}),
    }
    // Best effort: without a (complete) record DEL lists instead, so an unwritable /run costs speed, not correctness.
    const bestEffort = (what: string, f: () => void) => {
      try {
        f()
      } catch (e) {
        log.warn(`attachment record: ${what} failed (${describe(e)}); DEL will list instead`)
      }
    }
    const record = () => bestEffort(`writing ${state.dir}/att/${owner.tag}.json`, () => state.write(owner.tag, rec))
    rb.defer('remove the attachment record', () => {
      if (earlier === undefined) state.remove(owner.tag)
      else state.write(owner.tag, earlier)
    })

    // 2. The veth pair: container end created in the container, host end attached to the bridge.
    const veth = await createVeth(rc, rh, host, { ifName: a.ifName, netns: a.netns, mtu: cfg.mtu, mac: cfg.mac }, (name) => {
      rec.hostVeth = { name }
      record()
    })
    rb.defer(`delete veth ${a.ifName}`, () => delLinkIfExists(rc, a.ifName))
    // The owner tag on the host end: DEL finds it there when CNI_NETNS no longer leads to the container.
    await tagHostVeth(rh, veth.host, owner)
    await setLinkMaster(rh, veth.host.index, br.link.index)
    await setBridgePort(rh, veth.host.index, { hairpin: cfg.hairpinMode, ...(cfg.portIsolation ? { isolated: true } : {}) })
    await setupPortVlans(rh, veth.host, br.link, cfg)
    await setLinkUp(rh, veth.host.index)
    // The container end goes up now, as the reference does when it creates the pair: the kernel reports
    // the port's carrier asynchronously (linkwatch), and this lets that happen while IPAM runs.
    if (!cfg.disableContainerInterface) {
      containerSysctls(cont, a.ifName, cfg.enabledad, log)
      await setLinkUp(rc, veth.container.index)
    }

    // 2b. Only the container's MAC may send from its port.
    if (cfg.macspoofchk) {
      if (veth.container.mac === undefined) throw new CniError(CniCode.KernelFailure, `container interface ${a.ifName} has no MAC address`)
      const spoof = { port: veth.host.name, mac: veth.container.mac }
      rec.spoof = spoof
      record()
      rb.defer('remove MAC spoof check', () => teardownSpoofCheck(undefined, owner, spoof, log))
      setupSpoofCheck(undefined, owner, spoof.port, spoof.mac)
    }

    const result: CniResult = { cniVersion: a.conf.cniVersion, interfaces: [] }
    let vlanGateway: Link | undefined
    if (cfg.layer3) {
      // 3. IPAM.
      const ipam = ipamTarget(a)
      const lease = await delegateAdd(ipam)
      rb.defer(`release IPAM (${ipam.type})`, () => delegateDel(ipam))
      if (lease.ips === undefined || lease.ips.length === 0) {
        throw new CniError(CniCode.DecodingFailure, `IPAM plugin ${ipam.type} returned no IP configuration`)
      }
      result.ips = lease.ips.map((ip) => ({ ...ip }))
      if (lease.routes !== undefined) result.routes = lease.routes.map((r) => ({ ...r }))
      if (lease.dns !== undefined) result.dns = lease.dns
      const { gateways, families } = planGateways(result, cfg, CONTAINER_INDEX)

      // 4. Addresses and routes in the container.
      await configureIface(rc, veth.container, result, { index: CONTAINER_INDEX, enabledad: cfg.enabledad, netns: cont, log })

      // 5. Gateway addresses on the bridge (on "<bridge>.<vlan>" in a VLAN), forwarding on.
      let gwLink = br.link
      if (cfg.vlan !== 0 && gateways.length > 0) {
        const vg = await ensureVlanGateway(rh, br.link, cfg)
        if (vg.created) rb.defer(`delete VLAN gateway ${vg.link.name}`, () => delLinkIfExists(rh, vg.link.index))
        gwLink = vg.link
      }
      for (const gw of gateways) await ensureGatewayAddress(rh, await getLink(rh, gwLink.index), gw, cfg.forceAddress)
      if (gwLink !== br.link) vlanGateway = gwLink
      for (const fam of families) enableForwarding(fam)

      // 6. NAT for traffic leaving the network: this container's addresses join the network's maps.
      if (cfg.ipMasq) {
        const cidrs = (result.ips ?? []).map((ip) => ip.address)
        if (cfg.ipMasqBackend === 'iptables') {
          rb.defer('remove NAT rules', () => teardownIptMasquerade(undefined, owner))
          await setupIptMasquerade(undefined, owner, cidrs)
        } else {
          const keys = natKeys(cidrs)
          rec.nat = { keys: [...new Set([...(rec.nat?.keys ?? []), ...keys])] }
          record()
          bestEffort('recording the NAT keys', () => state.claimNatKeys(owner.tag, keys))
          rb.defer('remove NAT elements', () => {
            teardownMasquerade(undefined, owner, keys, log)
            state.releaseNatKeys(owner.tag, keys)
          })
          setupMasquerade(undefined, owner, cidrs, log)
        }
      }
    }

    // 7. Wait for the port to forward, then read back the MACs (they change as ports join).
    const hostVeth = cfg.disableContainerInterface ? await getLink(rh, veth.host.index) : await waitPortUp(rh, veth.host.index, veth.host.name)
    const brNow = await getLink(rh, br.link.index)
    const contNow = await getLink(rc, veth.container.index)
    const ifaces: CniInterface[] = [
      { name: brNow.name, ...(brNow.mac ? { mac: brNow.mac } : {}) },
      { name: hostVeth.name, ...(hostVeth.mac ? { mac: hostVeth.mac } : {}) },
      { name: contNow.name, ...(contNow.mac ? { mac: contNow.mac } : {}), sandbox: a.netns },
    ]
    // The reference lists the VLAN gateway after the container's interface.
    if (vlanGateway !== undefined) {
      const vg = await getLink(rh, vlanGateway.index)
      ifaces.push({ name: vg.name, ...(vg.mac ? { mac: vg.mac } : {}) })
    }
    result.interfaces = ifaces
    // The configuration's DNS settings win over IPAM's.
    if (dnsSet(cfg.netConf.dns)) result.dns = cfg.netConf.dns
    rb.commit()
    return result
  } finally {
    await rb.settle(log)
    rtCont?.close()
    rtHost?.close()
    cont.close()
    host.close()
  }
}

// Poll finely first: the port is usually up within a few ms, and each wait here is paid by every ADD
// (a poll is one RTM_GETLINK, ~0.1 ms).
const PORT_UP_RETRIES_MS = [0, 1, 1, 1, 2, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 1000]

async function waitPortUp(rt: Rtnl, index: number, name: string) {
  let state = 'unknown'
  for (const ms of PORT_UP_RETRIES_MS) {
    if (ms > 0) await new Promise((r) => setTimeout(r, ms))
    const l = await getLink(rt, index)
    if (l.operstate === 'up') return l
    state = l.operstate
  }
  throw new CniError(CniCode.KernelFailure, `bridge port ${name} did not come up (operstate ${state})`)
}

function dnsSet(d: CniDns | undefined): d is CniDns {
  return d !== undefined && (d.nameservers !== undefined || d.search !== undefined || d.options !== undefined || (d.domain ?? '') !== '')
}
