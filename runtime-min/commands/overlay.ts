// `berth overlay agent|check --net NAME`: the overlay network's per-host agent and self-test. The network's
// settings come from its conflist (the overlay-vxlan plugin entry), so the agent and the plugin read the
// same keys through the same parser (pkg/overlay/config.ts).
import { createLog } from '../../pkg/log/log.js'
import { runAgent } from '../../pkg/overlay/agent.js'
import { parseOverlayNetwork, type OverlayNetwork } from '../../pkg/overlay/config.js'
import { formatSelftest, runSelftest } from '../../pkg/overlay/selftest.js'
import { CliError } from '../cli-error.js'
import { loadNetworkList } from '../libcni/index.js'
import { cniConfDir } from '../paths.js'

export interface OverlayArgs {
  confDir?: string | undefined
  net: string
}

/** The overlay-vxlan plugin's settings of network `net`; CliError when the network is not an overlay. */
export function loadOverlayNetwork(a: OverlayArgs): OverlayNetwork {
  const list = loadNetworkList(a.confDir ?? cniConfDir(), a.net)
  const plugin = list.plugins.find((p) => p.type === 'overlay-vxlan')
  if (plugin === undefined) throw new CliError(`network ${a.net} has no overlay-vxlan plugin`, "create it with 'berth net create NAME --driver vxlan'")
  return parseOverlayNetwork(list.name, plugin)
}

/** Runs until SIGINT/SIGTERM; the host's state stays as it is when it stops (a restart disturbs nothing). */
export async function overlayAgent(a: OverlayArgs & { resyncMs?: number | undefined }): Promise<void> {
  const net = loadOverlayNetwork(a)
  const ac = new AbortController()
  const stop = () => ac.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  // The agent says what it does at info level unless BERTH_LOG_LEVEL says otherwise.
  process.env['BERTH_LOG_LEVEL'] ??= 'info'
  try {
    await runAgent({ net, log: createLog(`berth overlay agent ${net.name}`), signal: ac.signal, ...(a.resyncMs !== undefined ? { resyncMs: a.resyncMs } : {}) })
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** Prints the per-peer report (or JSON); exit code 1 when any peer is unreachable or has an MTU mismatch. */
export async function overlayCheck(a: OverlayArgs & { json?: boolean | undefined }): Promise<number> {
  const net = loadOverlayNetwork(a)
  const report = await runSelftest(net)
  process.stdout.write(a.json === true ? JSON.stringify(report, null, 2) + '\n' : formatSelftest(report).join('\n') + '\n')
  return report.ok ? 0 : 1
}
