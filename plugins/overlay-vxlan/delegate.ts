// The configuration handed to the `bridge` plugin for one attachment (as flannel's CNI plugin delegates):
// a bridge per network that is the gateway of the leased subnet, host-local IPAM over that subnet, the
// overlay MTU, no per-container NAT (the network's one masquerade lives in pkg/overlay/masq.ts).
// It is saved per attachment so DEL and CHECK use exactly what ADD used, even after the lease moved.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { convertResult } from '../../pkg/cni/result.js'
import type { Attachment, NetConf } from '../../pkg/cni/schema.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import type { DelegateTarget } from '../../pkg/invoke/delegate.js'
import type { Lease } from '../../pkg/overlay/store.js'
import type { CmdArgs } from '../../pkg/skel/skel.js'
import type { OverlayConfig } from './config.js'

export type BridgeConf = Record<string, unknown>

export function bridgeConf(cfg: OverlayConfig, lease: Pick<Lease, 'subnet'>, mtu: number): BridgeConf {
  const c = cfg.netConf
  return {
    cniVersion: c.cniVersion,
    name: c.name,
    type: 'bridge',
    bridge: cfg.net.bridgeName,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: false,
    mtu,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: lease.subnet }]],
      routes: [{ dst: cfg.net.clusterCidr }],
      ...(cfg.dataDir !== undefined ? { dataDir: cfg.dataDir } : {}),
    },
    ...(c.runtimeConfig !== undefined ? { runtimeConfig: c.runtimeConfig } : {}),
    ...(c.args !== undefined ? { args: c.args } : {}),
    ...(c.dns !== undefined ? { dns: c.dns } : {}),
  }
}

/**
 * The bridge configuration for a network-wide GC, which needs no lease: GC allocates nothing, host-local
 * finds the network's reservations by name and dataDir, and the bridge collects by owner. The cluster
 * CIDR stands in for the subnet. The runtime's valid-attachments list (validAttachments: under whichever
 * key and spelling it came) is passed on under the spec's key.
 */
export function gcBridgeConf(cfg: OverlayConfig, valid: readonly Attachment[]): BridgeConf {
  return { ...bridgeConf(cfg, { subnet: cfg.net.clusterCidr }, cfg.net.mtu ?? 1450), 'cni.dev/valid-attachments': valid }
}

/**
 * The saved bridge configuration with this call's prevResult, as the spec spells a result of its version
 * (the runtime may have spelled the keys otherwise; the parsed result is what the bridge must see).
 */
export function withPrevResult(conf: BridgeConf, netConf: NetConf): BridgeConf {
  const prev = netConf.prevResult
  return prev === undefined ? conf : { ...conf, prevResult: convertResult(prev, prev.cniVersion) }
}

export function statePath(cfg: OverlayConfig, a: CmdArgs): string {
  return safeJoin(cfg.stateDir, [cfg.netConf.name, `${a.containerId}-${a.ifName}.json`], { what: 'attachment name' })
}

/** The record of one attachment: who it is (for GC) and the configuration the bridge got. */
interface AttachmentRecord {
  containerID: string
  ifname: string
  bridge: BridgeConf
}

export function saveBridgeConf(path: string, a: Pick<CmdArgs, 'containerId' | 'ifName'>, conf: BridgeConf): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const rec: AttachmentRecord = { containerID: a.containerId, ifname: a.ifName, bridge: conf }
  writeFileAtomicSync(path, JSON.stringify(rec))
}

function readRecord(path: string): AttachmentRecord {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<AttachmentRecord>
    if (typeof v.containerID === 'string' && typeof v.ifname === 'string' && typeof v.bridge === 'object' && v.bridge !== null) return v as AttachmentRecord
  } catch {
    // fall through: records are written atomically, so this is corruption
  }
  throw new CniError(CniCode.IoFailure, `attachment record ${path} is corrupt; remove it and run DEL again`)
}

/** Every attachment record of the network on this host (GC). */
export function listRecords(cfg: OverlayConfig): (AttachmentRecord & { path: string })[] {
  const dir = safeJoin(cfg.stateDir, cfg.netConf.name, { what: 'network name' })
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('.'))
  } catch {
    return []
  }
  return files.map((f) => ({ ...readRecord(join(dir, f)), path: join(dir, f) }))
}

/** The saved configuration, or undefined when this attachment has none (never added, or deleted). */
export function loadBridgeConf(path: string): BridgeConf | undefined {
  if (!existsSync(path)) return undefined
  return readRecord(path).bridge
}

/** The network's other attachment records on this host (the directory holds only this network's). */
export function otherRecords(path: string): string[] {
  try {
    return readdirSync(dirname(path)).filter((f) => f.endsWith('.json') && !f.startsWith('.') && f !== basename(path))
  } catch {
    return []
  }
}

export function removeBridgeConf(path: string): void {
  rmSync(path, { force: true })
  try {
    rmdirSync(dirname(path))
  } catch {
    // other attachments of the network still have records there
  }
}

export function bridgeTarget(a: CmdArgs, conf: BridgeConf): DelegateTarget {
  return { type: 'bridge', path: a.path, env: a.env, stdin: Buffer.from(JSON.stringify(conf)) }
}
