// What `berth rig up --driver vxlan` does per host (called from drivers.ts): give the host the rig's
// overlay network (conflist "overlay", cluster 10.244.0.0/16, a file store private to the rig so two rigs
// on one machine never see each other's leases) and start its agent in the host, detached, logging to
// $BERTH_ROOT/run/berth/overlay-agent.log (also for hosts of `rig add-host`). `rig down` and `rm-host`
// release the host's lease early (the others drop its entries at once); `down` with its last host removes
// the rig's store. The agents die with the rig's namespaces.
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../../pkg/fsutil/atomic-write.js'
import { safeJoin } from '../../pkg/fsutil/safe-path.js'
import { openStore } from '../../pkg/overlay/store.js'
import { CliError } from '../cli-error.js'
import { vxlanConflist } from '../netconf/conflist.js'
import { berthBinDir, OVERLAY_STORE_DIR } from '../paths.js'
import { spawnInMember } from './exec.js'
import type { RigInfo, RigMember } from './store.js'

export const RIG_OVERLAY_NETWORK = 'overlay'
export const RIG_OVERLAY_CIDR = '10.244.0.0/16'

export const rigStoreDir = (rig: RigInfo): string => safeJoin(join(OVERLAY_STORE_DIR, 'rigs'), rig.name, { what: 'rig name' })

export async function startRigOverlayHost(rig: RigInfo, host: RigMember): Promise<void> {
  const storePath = rigStoreDir(rig)
  const conflist = vxlanConflist({ name: RIG_OVERLAY_NETWORK, clusterCidr: RIG_OVERLAY_CIDR })
  const plugins = conflist['plugins'] as Record<string, unknown>[]
  if (plugins[0] !== undefined) plugins[0]['store'] = { type: 'file', path: storePath }
  const confDir = join(host.root, 'etc/cni/net.d')
  mkdirSync(confDir, { recursive: true })
  writeFileAtomicSync(join(confDir, `${RIG_OVERLAY_NETWORK}.conflist`), `${JSON.stringify(conflist, null, 2)}\n`, { mode: 0o644 })

  const logDir = join(host.root, 'run/berth')
  mkdirSync(logDir, { recursive: true })
  const log = openSync(join(logDir, 'overlay-agent.log'), 'a', 0o600)
  try {
    const child = spawnInMember(rig, host, [join(berthBinDir(), 'berth'), 'overlay', 'agent', '--net', RIG_OVERLAY_NETWORK], {
      detached: true,
      stdio: ['ignore', log, log],
    })
    child.unref()
  } finally {
    closeSync(log)
  }
  // The host is part of the overlay once its agent holds a lease: wait for it, so `rig up` returns ready.
  const store = openStore({ type: 'file', path: storePath })
  try {
    for (let i = 0; i < 200; i++) {
      if ((await store.list(RIG_OVERLAY_NETWORK)).some((l) => l.hostId === host.ip)) return
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await store.close()
  }
  throw new CliError(`the overlay agent of ${rig.name}/${host.name} did not take a lease within 10 s`, `see ${join(logDir, 'overlay-agent.log')}`)
}

/** Releases the host's lease; on `down`, the last host also removes the rig's store (`rm-host` never does). */
export async function stopRigOverlayHost(rig: RigInfo, host: RigMember, reason: 'down' | 'rm-host' | 'up' | 'add-host' = 'down'): Promise<void> {
  const storePath = rigStoreDir(rig)
  const store = openStore({ type: 'file', path: storePath })
  try {
    await store.release(RIG_OVERLAY_NETWORK, host.ip)
  } finally {
    await store.close()
  }
  if (reason === 'down' && rig.hosts[rig.hosts.length - 1]?.name === host.name) rmSync(storePath, { recursive: true, force: true })
}
