// `berth rig up|ls|inspect|exec|down`: handlers with typed arguments (cli.ts declares the commands).
import { rigDown } from '../rig/down.js'
import { execInMember } from '../rig/exec.js'
import { validMember, validRigName } from '../rig/layout.js'
import { listRigs, requireRig, type RigInfo } from '../rig/store.js'
import { rigUp } from '../rig/up.js'

const out = (s: string) => process.stdout.write(s)

export interface RigUpArgs {
  name?: string | undefined
  hosts: number
  underlay?: string | undefined
  driver?: string | undefined
  json?: boolean | undefined
}

export async function rigUpCommand(a: RigUpArgs): Promise<void> {
  const rig = await rigUp(a)
  if (a.json === true) out(JSON.stringify(inspectView(rig), null, 2) + '\n')
  else out(`${rig.name}\n`)
}

export async function rigDownCommand(a: { rig: string }): Promise<void> {
  const r = await rigDown(a.rig)
  if (!r.removed) process.stderr.write(`berth: rig ${a.rig} was already gone\n`)
}

export function rigLsCommand(a: { json?: boolean | undefined }): void {
  const rigs = listRigs()
  if (a.json === true) {
    out(JSON.stringify(rigs.map(lsView), null, 2) + '\n')
    return
  }
  const rows = [['NAME', 'HOSTS', 'DRIVER', 'UNDERLAY', 'STATE'], ...rigs.map((r) => [r.name, String(r.hosts.length), r.driver, r.underlay, r.state])]
  out(table(rows))
}

export function rigInspectCommand(a: { rig: string; json?: boolean | undefined }): void {
  const rig = requireRig(validRigName(a.rig))
  if (a.json === true) {
    out(JSON.stringify(inspectView(rig), null, 2) + '\n')
    return
  }
  out(`rig ${rig.name} (${rig.state}), driver ${rig.driver}, underlay ${rig.underlay} via ${rig.gateway}\n`)
  const rows = [['MEMBER', 'ADDRESS', 'NETNS', 'BERTH_ROOT'], ...[rig.switch, ...rig.hosts].map((m) => [m.name, m.address, m.netns, m.root])]
  out(table(rows))
}

export interface RigExecArgs {
  rig: string
  member: string
  command: readonly string[]
}

/** Runs the command on the member and returns its exit code. */
export function rigExecCommand(a: RigExecArgs): Promise<number> {
  const rig = requireRig(validRigName(a.rig))
  const name = validMember(rig.name, a.member, rig.hosts.length)
  const member = name === rig.switch.name ? rig.switch : rig.hosts.find((h) => h.name === name)
  if (member === undefined) throw new Error(`rig ${rig.name}: ${name} missing from rig.json`)
  return execInMember(rig, member, a.command)
}

function lsView(r: RigInfo) {
  return { name: r.name, state: r.state, driver: r.driver, underlay: r.underlay, hosts: r.hosts.length, createdAt: r.createdAt }
}

/** What `inspect --json` shows: per member its name, namespace path, underlay address and root dir. */
export function inspectView(r: RigInfo) {
  const view = (m: RigInfo['switch']) => ({ name: m.name, netns: m.netns, address: m.address, ip: m.ip, interface: m.interface, root: m.root })
  return {
    name: r.name,
    state: r.state,
    driver: r.driver,
    underlay: r.underlay,
    gateway: r.gateway,
    createdAt: r.createdAt,
    switch: view(r.switch),
    hosts: r.hosts.map(view),
  }
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n'
}
