// `berth run`: validate everything, then create (in this order, each undone in reverse if a later step
// fails or a signal comes): the name reservation and state, the network namespace, the UTS namespace,
// each network's CNI ADD; then start the command. Foreground: berth supervises it (signals forwarded,
// exit code returned) and removes everything when it ends. Detached (-d): a supervisor process takes
// over, and the stopped container stays listed until `berth rm` (as Docker).
import { realpathSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { constants } from 'node:os'
import { join, resolve } from 'node:path'
import { Rollback } from '../../pkg/rollback/rollback.js'
import { createLog } from '../../pkg/log/log.js'
import { CliError } from '../cli-error.js'
import { checkCommand, DEFAULT_PATH } from '../container/command-path.js'
import { choosesPorts, formatPortMapping, rechooseHostPorts, resolveHostPorts } from '../container/host-ports.js'
import { finish, start, type Ctx } from '../container/lifecycle.js'
import { envObject } from '../container/launch.js'
import { generateName, newContainerId, validateContainerName } from '../container/names.js'
import { createContainerNetns, createUtsNamespace, removeNamespaceFile, validateHostname } from '../container/namespaces.js'
import { attach, attachmentFor, checkStaticAddressing, detach, planNetworks } from '../container/network.js'
import { parsePortSpecs } from '../container/port-spec.js'
import { SetupAborted, SignalRelay } from '../container/signals.js'
import type { ContainerState } from '../container/state.js'
import { stopContainer } from '../container/stop.js'
import { startSupervisor } from '../container/supervisor.js'
import { netnsDir } from '../paths.js'

export interface RunArgs {
  detach: boolean
  name?: string | undefined
  net: string[]
  publish: string[]
  hostname?: string | undefined
  rootfs?: string | undefined
  env: string[]
  /** --ip: fixed addresses on the first network (the `ips` capability) */
  ip?: string[] | undefined
  /** --mac: fixed MAC of eth0 (the `mac` capability) */
  mac?: string | undefined
  command: string[]
  confDir: string
  /** the default network's name, its conflist written on first use (ensureDefaultNetwork) */
  defaultNetwork: () => Promise<string> | string
  /** where output goes (the CLI passes process.stdout) */
  print: (line: string) => void
}

const log = createLog('berth')

/** ADDs of the publishing network tried when host ports berth chose are taken meanwhile (concurrent runs). */
const MAX_PUBLISH_ATTEMPTS = 16

/** -e K=V, or -e K to copy K from berth's own environment (Docker's rule; unset K is dropped). */
export function containerEnv(given: readonly string[], hostname: string): string[] {
  const env = new Map<string, string>([
    ['PATH', DEFAULT_PATH],
    ['HOSTNAME', hostname],
  ])
  for (const kv of given) {
    const i = kv.indexOf('=')
    const key = i < 0 ? kv : kv.slice(0, i)
    if (key === '' || key.includes('\0') || kv.includes('\0')) throw new CliError(`invalid -e "${kv}"`, 'use -e KEY=VALUE or -e KEY')
    if (i >= 0) env.set(key, kv.slice(i + 1))
    else if (process.env[key] !== undefined) env.set(key, process.env[key] as string)
  }
  return [...env].map(([k, v]) => `${k}=${v}`)
}

/** --ip takes an address (the network's prefix length applies), as Docker's and podman's --ip. */
function checkIp(ip: string): string {
  if (isIP(ip) === 0) throw new CliError(`invalid --ip "${ip}"`, 'give an IPv4 or IPv6 address inside the network, e.g. --ip 10.87.0.50')
  return ip
}

function checkMac(mac: string): string {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new CliError(`invalid --mac "${mac}"`, 'give a unicast MAC such as 02:42:ac:11:00:02')
  }
  return mac.toLowerCase()
}

function checkRootfs(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined
  let ok = false
  try {
    ok = statSync(dir).isDirectory()
  } catch {
    ok = false
  }
  if (!ok) throw new CliError(`rootfs ${dir} is not a directory`, 'give --rootfs an unpacked root file system, e.g. one made with busybox --install')
  // absolute: the launch runs with / as its working directory; symlinks resolved once, here
  const abs = realpathSync(resolve(dir))
  return abs === '/' ? undefined : abs
}

export async function run(a: RunArgs, ctx: Ctx): Promise<number> {
  const relay = new SignalRelay()
  try {
    return await runWith(a, ctx, relay)
  } finally {
    relay.dispose()
  }
}

async function runWith(a: RunArgs, ctx: Ctx, relay: SignalRelay): Promise<number> {
  // 1. Validate everything before creating anything.
  if (a.name !== undefined) validateContainerName(a.name)
  const rootfs = checkRootfs(a.rootfs)
  const name = a.name ?? generateName((n) => ctx.store.exists(n))
  const hostname = validateHostname(a.hostname ?? name.replace(/[_.]/g, '-'))
  const env = containerEnv(a.env, hostname)
  const [cmd] = a.command
  if (cmd === undefined) throw new CliError('no command given', 'put the command after --, e.g. berth run -- sleep 60')
  checkCommand(rootfs ?? '/', cmd, envObject(env)['PATH'] ?? DEFAULT_PATH)
  const specs = parsePortSpecs(a.publish)
  const nets = a.net.length > 0 ? a.net : [await a.defaultNetwork()]
  const plan = planNetworks(nets, a.confDir, specs.length > 0)
  const fixed = { ips: (a.ip ?? []).map(checkIp), mac: a.mac === undefined ? undefined : checkMac(a.mac) }
  checkStaticAddressing(plan, fixed)
  const ports = await resolveHostPorts(specs)
  relay.check()

  // 2. Create, each step registering its undo.
  const rb = new Rollback()
  ctx.store.reserve(name)
  rb.defer(`remove state of ${name}`, () => ctx.store.remove(name))
  const state: ContainerState = {
    version: 1,
    id: newContainerId(),
    name,
    createdAt: new Date().toISOString(),
    command: a.command,
    env,
    hostname,
    ...(rootfs !== undefined ? { rootfs } : {}),
    networks: nets,
    ports,
    detached: a.detach,
    uts: ctx.store.path(name, 'uts'),
    attachments: [],
    status: 'created',
  }
  try {
    ctx.store.write(state)
    if (plan.mode !== 'host') {
      const netns = join(netnsDir(), name)
      await createContainerNetns(netns)
      state.netns = netns
      rb.defer(`remove network namespace ${netns}`, () => removeNamespaceFile(netns))
      ctx.store.write(state)
    }
    relay.check()
    createUtsNamespace(state.uts, hostname)
    rb.defer('remove UTS namespace', () => removeNamespaceFile(state.uts))
    if (plan.mode === 'cni') {
      // host ports berth chose that a failed ADD found taken (a concurrent run chose them too)
      const avoid = new Set<string>()
      for (const [i, list] of plan.lists.entries()) {
        for (let attempt = 1; ; attempt++) {
          relay.check()
          const att = attachmentFor(list, i, plan.publishIndex, state.ports, fixed)
          // recorded before ADD, so a crash during ADD leaves something `rm` can DEL; a failed ADD is
          // rolled back by the chain runner itself, so our DEL is registered once ADD has succeeded
          state.attachments.push(att)
          ctx.store.write(state)
          try {
            await attach(state, att, ctx.cni)
          } catch (e) {
            if (i !== plan.publishIndex || !choosesPorts(specs) || attempt >= MAX_PUBLISH_ATTEMPTS) throw e
            const next = await rechooseHostPorts(specs, state.ports, avoid)
            if (next === undefined) throw e
            // the runner rolled the failed ADD back: forget it and try again with the next free ports
            state.attachments = state.attachments.filter((x) => x !== att)
            log.info(`host ports ${state.ports.map(formatPortMapping).join(',')} were taken meanwhile; trying ${next.map(formatPortMapping).join(',')}`)
            state.ports = next
            ctx.store.write(state)
            continue
          }
          rb.defer(`CNI DEL ${att.network} ${att.ifName}`, () => detach(state, att, ctx.cni))
          ctx.store.write(state)
          break
        }
      }
    }
    relay.check()
    if (a.detach) {
      await startSupervisor(ctx, name)
      // interrupted while the supervisor started: stop the command; the rollback then undoes the rest
      // (its supervisor's own teardown and ours are both idempotent, and run under the container lock)
      if (relay.aborted !== undefined) await stopContainer(ctx, name, { timeoutMs: 0 })
      relay.check()
      rb.commit()
      a.print(name)
      return 0
    }
    rb.commit()
  } catch (e) {
    relay.teardown()
    await rb.settle(log)
    if (e instanceof SetupAborted) throw new CliError(e.message, undefined, 128 + (constants.signals[e.signal] ?? 2))
    throw e
  }
  return foreground(ctx, state, relay)
}

/** The foreground run: start with this terminal's stdio, forward signals, then remove everything. */
async function foreground(ctx: Ctx, state: ContainerState, relay: SignalRelay): Promise<number> {
  relay.running()
  let code: number
  try {
    const s = await start(ctx, state, 'inherit')
    relay.target(s.init, s.launcher)
    code = await s.exited
  } catch (e) {
    relay.teardown()
    const errors = await finish(ctx, state.name, undefined, true)
    for (const err of errors) log.warn(err)
    throw e
  }
  relay.teardown()
  const errors = await finish(ctx, state.name, code, true)
  if (errors.length > 0) {
    throw new CliError(`container ${state.name} exited with ${code} but its teardown failed: ${errors.join('; ')}`, `retry with 'berth rm -f ${state.name}'`, code === 0 ? 1 : code)
  }
  return code
}
