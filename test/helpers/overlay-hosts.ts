// A throw-away multi-host underlay for overlay tests (until `berth rig` is used): a "switch" namespace
// holding a bridge with the first address of the underlay, and host namespaces wired to it by veth pairs,
// each with the next address, a default route via the switch and forwarding on. Each host also gets a
// root directory (BERTH_ROOT) so per-host files stay apart. Everything dies with the test (t.teardown).
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createTestNetns, type TestNetns } from './netns.js'
import { runPlugin, type PluginRun } from './run-plugin.js'
import { BIN_DIR } from './paths.js'

interface Tap {
  teardown(fn: () => unknown): void
  testdir(): string
}

export interface FakeHost {
  name: string
  ns: TestNetns
  /** underlay address */
  ip: string
  /** BERTH_ROOT of the host */
  root: string
  /** runs a plugin inside the host namespace with the host's BERTH_ROOT */
  plugin(type: string, command: string, c: { containerId: string; netns: string; ifName?: string; stdin: object }): PluginRun
  /** removes the host from the underlay (its namespace dies, as a machine that is switched off) */
  destroy(): void
}

export interface FakeRig {
  switchNs: TestNetns
  /** "10.99.0" */
  prefix: string
  hosts: FakeHost[]
  addHost(): Promise<FakeHost>
}

export async function createFakeRig(t: Tap, count: number, opts: { prefix?: string; mtu?: number } = {}): Promise<FakeRig> {
  const prefix = opts.prefix ?? '10.99.0'
  const dir = t.testdir()
  const sw = await createTestNetns(t)
  sw.exec('ip', ['link', 'set', 'lo', 'up'])
  sw.exec('ip', ['link', 'add', 'br0', 'type', 'bridge'])
  sw.exec('ip', ['addr', 'add', `${prefix}.1/24`, 'dev', 'br0'])
  sw.exec('ip', ['link', 'set', 'br0', 'up'])
  const rig: FakeRig = {
    switchNs: sw,
    prefix,
    hosts: [],
    async addHost() {
      const k = rig.hosts.length + 1
      const ns = await createTestNetns(t)
      const ip = `${prefix}.${k + 1}`
      const port = `sw${k}`
      ns.exec('ip', ['link', 'add', 'eth0', ...(opts.mtu ? ['mtu', String(opts.mtu)] : []), 'type', 'veth', 'peer', 'name', port, 'netns', sw.name])
      sw.exec('ip', ['link', 'set', port, ...(opts.mtu ? ['mtu', String(opts.mtu)] : []), 'master', 'br0', 'up'])
      ns.exec('ip', ['link', 'set', 'lo', 'up'])
      ns.exec('ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0'])
      ns.exec('ip', ['link', 'set', 'eth0', 'up'])
      ns.exec('ip', ['route', 'add', 'default', 'via', `${prefix}.1`])
      ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
      const root = join(dir, `host${k}`)
      mkdirSync(root, { recursive: true })
      const host: FakeHost = {
        name: `host${k}`,
        ns,
        ip,
        root,
        plugin(type, command, c) {
          return runPlugin(type, {
            hostNetns: ns.path,
            stdin: c.stdin,
            env: {
              CNI_COMMAND: command,
              CNI_CONTAINERID: c.containerId,
              CNI_NETNS: c.netns,
              CNI_IFNAME: c.ifName ?? 'eth0',
              CNI_PATH: BIN_DIR,
              BERTH_ROOT: root,
            },
          })
        },
        destroy() {
          ns.destroy()
        },
      }
      rig.hosts.push(host)
      return host
    },
  }
  for (let i = 0; i < count; i++) await rig.addHost()
  return rig
}

export interface RunningAgent {
  stop(): Promise<void>
  /** every reconcile pass so far: lease count and changes made */
  passes: { leases: number; added: number; removed: number; unchanged: number }[]
}

/**
 * Runs the overlay agent for `conf` (the plugin configuration) inside the host's namespace, in this
 * process (until the runtime's `berth overlay agent` is used): stopped at teardown at the latest.
 */
export async function startAgent(t: Tap, host: FakeHost, conf: { name: string }, opts: { resyncMs?: number } = {}): Promise<RunningAgent> {
  const { runAgent } = await import('../../pkg/overlay/agent.js')
  const { parseOverlayNetwork } = await import('../../pkg/overlay/config.js')
  const { NetnsHandle } = await import('../../pkg/ns/netns.js')
  const { createLog } = await import('../../pkg/log/log.js')
  const ns = NetnsHandle.open(host.ns.path)
  const ac = new AbortController()
  const passes: RunningAgent['passes'] = []
  const done = runAgent({
    net: parseOverlayNetwork(conf.name, conf),
    ns,
    log: createLog(`agent ${host.name}`),
    signal: ac.signal,
    resyncMs: opts.resyncMs ?? 1000,
    onSync: (leases, s) => passes.push({ leases: leases.length, ...s }),
  })
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    ac.abort()
    try {
      await done
    } finally {
      ns.close()
    }
  }
  t.teardown(stop)
  // An agent failing at start (bad config, kernel refusal) fails the test at stop().
  done.catch(() => undefined)
  return { stop, passes }
}

/** Polls `cond` every 50 ms for up to `ms`; resolves whether it became true (tests assert on that, not on time). */
export async function eventually(cond: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    try {
      if (cond()) return true
    } catch {
      // not yet
    }
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The overlay routes (proto 190) of a host. */
export function overlayRoutes(host: FakeHost): { dst: string; gateway: string; dev: string; flags: string[] }[] {
  return host.ns.ipJson(['route', 'show', 'proto', '190']) as { dst: string; gateway: string; dev: string; flags: string[] }[]
}

/**
 * Runs `bin/berth overlay agent` as its own process inside the host namespace (needed when the store is
 * reached over the network, as etcd on the rig's underlay: the connection must come from the host).
 * Killed at teardown; `stop()` kills it earlier.
 */
export function startAgentProcess(t: Tap, host: FakeHost, confDir: string, network: string): { stop(): void } {
  const child = spawn('nsenter', [`--net=${host.ns.path}`, '--', join(BIN_DIR, 'berth'), 'overlay', 'agent', '--net', network, '--cni-conf-dir', confDir, '--resync', '500'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', BERTH_ROOT: host.root, BERTH_LOG_LEVEL: 'warn' },
  })
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  t.teardown(stop)
  return { stop }
}
