// STATUS and GC (spec 1.1.0). STATUS asks the IPAM plugin; GC asks the IPAM plugin to collect, then
// removes this network's NAT and MAC spoof-check elements whose owner is not among the valid attachments
// (by listing: GC is rare), and their attachment records (state.ts), so that a late DEL of a collected
// attachment cannot act on what its record named.
import { validAttachments } from '../../pkg/cni/schema.js'
import { ErrorList } from '../../pkg/errors/error-list.js'
import { delegateRun } from '../../pkg/invoke/delegate.js'
import { ipamTarget } from '../../pkg/ipam/target.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import { parseBridgeConfig } from './config.js'
import { gcMasquerade, masqOwner } from './masq.js'
import { gcIptMasquerade } from './masq-iptables.js'
import { gcSpoofCheck } from './spoofchk.js'
import { BridgeState } from './state.js'

async function delegate(a: CmdArgs, command: 'STATUS' | 'GC'): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args, { strict: false })
  if (!cfg.layer3) return
  await delegateRun(ipamTarget(a), command)
}

export async function cmdStatus(a: CmdArgs): Promise<void> {
  await delegate(a, 'STATUS')
}

export async function cmdGc(a: CmdArgs): Promise<void> {
  const cfg = parseBridgeConfig(a.conf, a.args, { strict: false })
  const valid = validAttachments(cfg.netConf)
  // No list: the runtime asked for nothing to be collected.
  if (valid === undefined) return
  const errors = new ErrorList()
  await errors.attempt(`IPAM GC (${cfg.netConf.ipam?.type ?? ''})`, () => delegate(a, 'GC'))
  if (cfg.ipMasq && cfg.ipMasqBackend === 'iptables') await errors.attempt('NAT GC', () => gcIptMasquerade(undefined, cfg.netConf.name, valid))
  else if (cfg.ipMasq) await errors.attempt('NAT GC', () => gcMasquerade(undefined, cfg.netConf.name, valid))
  if (cfg.macspoofchk) await errors.attempt('MAC spoof check GC', () => gcSpoofCheck(undefined, cfg.netConf.name, valid))
  await errors.attempt('attachment records GC', () => {
    const state = BridgeState.current()
    const keep = new Set(valid.map((v) => masqOwner(cfg.netConf.name, v.containerID, v.ifname).tag))
    for (const { tag, rec } of state.list()) {
      if (rec.network !== cfg.netConf.name || keep.has(tag)) continue
      state.releaseNatKeys(tag, rec.nat?.keys ?? [])
      state.remove(tag)
    }
  })
  errors.throwIfAny(`GC of network ${cfg.netConf.name} failed`)
}
