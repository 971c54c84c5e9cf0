// DEL: best effort and idempotent. Removes the container's veth (the kernel removes the host end with it),
// the NAT and spoof-check elements, then releases IPAM (last, so the address cannot go to another
// container while this one's NAT still names it). What to remove comes from the attachment's record
// (state.ts): elements by key, the host veth by name, nothing listed, so the cost does not grow with the
// containers on the host. Without a record (an older berth made the attachment, or the record is gone),
// or when the record and the kernel disagree, it lists: NAT and spoof elements by the owner tag in their
// comments, the host veth by the owner tag ADD put in its alias (when CNI_NETNS is empty or its path is
// gone, the namespace may still be alive, held by another process). Nothing here needs prevResult.
import { describe } from '../../pkg/errors/describe.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delegateDel } from '../../pkg/invoke/delegate.js'
import { ipamTarget } from '../../pkg/ipam/target.js'
import { delLinkIfExists, linkByName } from '../../pkg/link/link.js'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { createLog } from '../../pkg/log/log.js'
import { NetnsHandle, NetnsNotFoundError } from '../../pkg/ns/netns.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { removeHostVethsByOwner, removeRecordedHostVeth } from './iface.js'
import { parseBridgeConfig } from './config.js'
import { masqOwner, teardownMasquerade, type MasqOwner } from './masq.js'
import { teardownIptMasquerade } from './masq-iptables.js'
import { teardownSpoofCheck } from './spoofchk.js'
import { BridgeState, type AttachmentRecord } from './state.js'

const log = createLog('bridge')

export async function cmdDel(a: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args, { strict: false })
  const errors = new ErrorList()
  const owner = masqOwner(cfg.netConf.name, a.containerId, a.ifName)
  const state = BridgeState.current()
  const rec = state.read(owner.tag)
  if (rec === undefined) log.debug(`DEL: no record for ${owner.comment}; removing by listing`)

  // 1. The container's interface, while its namespace can be reached through CNI_NETNS.
  let reached = false
  if (a.netns !== '') {
    await errors.attempt(`delete ${a.ifName} in ${a.netns}`, async () => {
      let cont: NetnsHandle
      try {
        cont = NetnsHandle.open(a.netns)
      } catch (e) {
        if (e instanceof NetnsNotFoundError) {
          log.info(`DEL: namespace path ${a.netns} is gone (${e.errnoCode}); looking for the host veth by owner`)
          return
        }
        throw e
      }
      reached = true
      const rt = openRtnl(cont)
      try {
        const link = await linkByName(rt, a.ifName)
        if (link === undefined) return
        if (link.kind !== 'veth') {
          log.warn(`DEL: ${a.ifName} in ${a.netns} is a ${link.kind ?? 'device'}, not a veth: left alone`)
          return
        }
        await delLinkIfExists(rt, link.index)
      } finally {
        rt.close()
        cont.close()
      }
    })
  }

  // 1b. Without the namespace: the host veth tagged with this owner, if the namespace lives on elsewhere.
  if (!reached) await errors.attempt(`delete the host veth of ${a.ifName}`, () => removeHostVeth(owner, rec))

  // 2. NAT elements: by key from the record, else by the owner tag in their comment.
  if (cfg.layer3 && cfg.ipMasq) {
    if (cfg.ipMasqBackend === 'iptables') await errors.attempt('remove NAT rules', () => teardownIptMasquerade(undefined, owner))
    else await errors.attempt('remove NAT elements', () => removeNat(state, owner, rec))
  }

  // 3. MAC spoof check elements, the same way.
  if (cfg.macspoofchk) {
    await errors.attempt('remove MAC spoof check', () => teardownSpoofCheck(undefined, owner, rec?.spoof, log))
  }

  // 4. The address lease.
  if (cfg.layer3) await errors.attempt(`release IPAM (${cfg.netConf.ipam?.type ?? ''})`, () => delegateDel(ipamTarget(a)))

  errors.throwIfAny(`failed to delete ${a.ifName} of container ${a.containerId}`)
  // Everything it named is gone: a failed DEL keeps it for the runtime's retry.
  forget(`removing the record ${owner.tag}`, () => state.remove(owner.tag))
}

/** State clean-up after the kernel work is done: a failure there must not fail DEL (a later one lists). */
function forget(what: string, f: () => void): void {
  try {
    f()
  } catch (e) {
    log.warn(`attachment record: ${what} failed (${describe(e)})`)
  }
}

async function removeHostVeth(owner: MasqOwner, rec: AttachmentRecord | undefined): Promise<void> {
  const rt = openRtnl()
  try {
    if (rec?.hostVeth !== undefined) {
      const r = await removeRecordedHostVeth(rt, rec.hostVeth.name, owner)
      if (r === 'deleted') log.info(`DEL: deleted host veth ${rec.hostVeth.name} (from the attachment record)`)
      if (r !== 'mismatch') return
      log.info(`DEL: ${rec.hostVeth.name} is not this attachment's veth; looking for it by owner tag`)
    }
    const gone = await removeHostVethsByOwner(rt, owner)
    if (gone.length > 0) log.info(`DEL: deleted host veth ${gone.join(', ')} by its owner tag`)
  } finally {
    rt.close()
  }
}

/**
 * The record's keys that are still this owner's (nat/<address> names it) go by key; a key recorded as
 * another owner's was taken over by a later ADD and stays. A key with no owner on file (an interrupted
 * ADD or DEL) means the record cannot be trusted: list.
 */
function removeNat(state: BridgeState, owner: MasqOwner, rec: AttachmentRecord | undefined): void {
  if (rec?.nat === undefined) {
    teardownMasquerade(undefined, owner, undefined, log)
    return
  }
  const owners = rec.nat.keys.map((k) => state.natKeyOwner(k))
  const mine = rec.nat.keys.filter((_, i) => owners[i] === owner.tag)
  teardownMasquerade(undefined, owner, owners.includes(undefined) ? undefined : mine, log)
  forget('releasing the NAT keys', () => state.releaseNatKeys(owner.tag, rec.nat?.keys ?? []))
}
