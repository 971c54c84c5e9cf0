// `berth ps [-a] [--json]`: running containers (all with -a), as a table or JSON.
import { formatPortMapping } from '../container/host-ports.js'
import { currentInit, effectiveStatus, type Ctx } from '../container/lifecycle.js'
import type { ContainerState } from '../container/state.js'

export interface PsArgs {
  all: boolean
  json: boolean
  print: (line: string) => void
}

export interface PsRow {
  name: string
  id: string
  status: ContainerState['status']
  exitCode: number | null
  pid: number | null
  detached: boolean
  networks: string[]
  ports: ContainerState['ports']
  command: string[]
  createdAt: string
}

export function psRows(ctx: Ctx, all: boolean): PsRow[] {
  return ctx.store
    .list()
    .map((s) => {
      const status = effectiveStatus(s)
      return {
        name: s.name,
        id: s.id,
        status,
        exitCode: s.exitCode ?? null,
        pid: status === 'running' ? (currentInit(s)?.pid ?? null) : null,
        detached: s.detached,
        networks: s.networks,
        ports: s.ports,
        command: s.command,
        createdAt: s.createdAt,
      }
    })
    .filter((r) => all || r.status === 'running')
}

export function statusText(r: Pick<PsRow, 'status' | 'exitCode'>): string {
  if (r.status === 'exited') return r.exitCode === null ? 'exited' : `exited (${r.exitCode})`
  return r.status
}

export function ps(a: PsArgs, ctx: Ctx): number {
  const rows = psRows(ctx, a.all)
  if (a.json) {
    a.print(JSON.stringify(rows, null, 2))
    return 0
  }
  const table = [
    ['NAME', 'STATUS', 'PID', 'NETWORKS', 'PORTS', 'COMMAND'],
    ...rows.map((r) => [r.name, statusText(r), r.pid === null ? '-' : String(r.pid), r.networks.join(','), r.ports.map(formatPortMapping).join(',') || '-', r.command.join(' ')]),
  ]
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? []
  for (const row of table) a.print(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
  return 0
}
