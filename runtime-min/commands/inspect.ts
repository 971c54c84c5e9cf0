// `berth inspect NAME`: one JSON object: status, PIDs, namespaces, and each network's CNI result.
import { currentInit, effectiveStatus, type Ctx } from '../container/lifecycle.js'
import { isAlive } from '../container/proc.js'

export interface InspectArgs {
  name: string
  print: (line: string) => void
}

export function inspectContainer(ctx: Ctx, name: string): Record<string, unknown> {
  const s = ctx.store.read(name)
  const status = effectiveStatus(s)
  const pid = status === 'running' ? currentInit(s)?.pid : undefined
  const nsOf = (kind: string) => (pid === undefined ? null : `/proc/${pid}/ns/${kind}`)
  return {
    name: s.name,
    id: s.id,
    status,
    exitCode: s.exitCode ?? null,
    pid: pid ?? null,
    supervisorPid: s.supervisor !== undefined && isAlive(s.supervisor) ? s.supervisor.pid : null,
    detached: s.detached,
    command: s.command,
    env: s.env,
    hostname: s.hostname,
    rootfs: s.rootfs ?? null,
    createdAt: s.createdAt,
    startedAt: s.startedAt ?? null,
    finishedAt: s.finishedAt ?? null,
    namespaces: {
      net: s.networks[0] === 'host' ? 'host' : (s.netns ?? null),
      uts: status === 'running' ? s.uts : null,
      ipc: nsOf('ipc'),
      pid: nsOf('pid'),
      mnt: nsOf('mnt'),
    },
    networks: s.attachments.map((a) => ({ network: a.network, ifName: a.ifName, result: a.result ?? null })),
    requestedNetworks: s.networks,
    ports: s.ports,
    logPath: s.logPath ?? null,
  }
}

export function inspect(a: InspectArgs, ctx: Ctx): number {
  a.print(JSON.stringify(inspectContainer(ctx, a.name), null, 2))
  return 0
}
