// `berth rig up|ls|inspect|exec|down`: handlers with typed arguments (cli.ts declares the commands).
import { rigDown } from '../rig/down.js'
import { execInMember } from '../rig/exec.js'
import { validMember, validRigName } from '../rig/layout.js'
import { listRigEntries, requireRig, shownState, type RigInfo } from '../rig/store.js'
import { rigAddHosts, rigRemoveHost } from '../rig/hosts.js'
import { rigUp } from '../rig/up.js'

const out = (s: string) => process.stdout.write(s)

export interface RigUpArgs {
  name?: string | undefined
  hosts: number
  underlay?: string | undefined
  underlay6?: string | undefined
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

/** Prints the new hosts' names, one a line (or the rig as JSON). */
export async function rigAddHostCommand(a: { rig: string; count: number; json?: boolean | undefined }): Promise<void> {
  const added = await rigAddHosts(a.rig, a.count)
  if (a.json === true) out(JSON.stringify(inspectView(requireRig(a.rig)), null, 2) + '\n')
  else out(added.map((h) => `${h.name}\n`).join(''))
}

export async function rigRmHostCommand(a: { rig: string; host: string }): Promise<void> {
  await rigRemoveHost(a.rig, a.host)
}

export function rigLsCommand(a: { json?: boolean | undefined }): void {
  const entries = listRigEntries()
  if (a.json === true) {
    out(JSON.stringify(entries.map((e) => ('info' in e ? lsView(e.info) : { name: e.name, state: 'damaged', error: e.damaged })), null, 2) + '\n')
    return
  }
  const rows = [
    ['NAME', 'HOSTS', 'DRIVER', 'UNDERLAY', 'STATE'],
    ...entries.map((e) => ('info' in e ? [e.name, String(e.info.hosts.length), e.info.driver, e.info.underlay, stateText(e.info)] : [e.name, '-', '-', '-', "damaged (remove it with 'berth rig down')"])),
  ]
  out(table(rows))
}

export function rigInspectCommand(a: { rig: string; json?: boolean | undefined }): void {
  const rig = requireRig(validRigName(a.rig))
  if (a.json === true) {
    out(JSON.stringify(inspectView(rig), null, 2) + '\n')
    return
  }
  const v6 = rig.underlay6 === undefined ? '' : `, IPv6 underlay ${rig.underlay6} via ${rig.gateway6 ?? ''}`
  out(`rig ${rig.name} (${stateText(rig)}), driver ${rig.driver}, underlay ${rig.underlay} via ${rig.gateway}${v6}\n`)
  const members = [rig.switch, ...rig.hosts]
  const rows =
    rig.underlay6 === undefined
      ? [['MEMBER', 'ADDRESS', 'NETNS', 'BERTH_ROOT'], ...members.map((m) => [m.name, m.address, m.netns, m.root])]
      : [['MEMBER', 'ADDRESS', 'ADDRESS6', 'NETNS', 'BERTH_ROOT'], ...members.map((m) => [m.name, m.address, m.address6 ?? '-', m.netns, m.root])]
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
  const name = validMember(rig.name, a.member, rig.hosts.map((h) => h.name))
  const member = name === rig.switch.name ? rig.switch : rig.hosts.find((h) => h.name === name)
  if (member === undefined) throw new Error(`rig ${rig.name}: ${name} missing from rig.json`)
  return execInMember(rig, member, a.command)
}

function stateText(r: RigInfo): string {
  const s = shownState(r)
  return s === 'broken' ? `broken: its up died (remove it with 'berth rig down ${r.name}')` : s
}

function lsView(r: RigInfo) {
  return { name: r.name, state: shownState(r), driver: r.driver, underlay: r.underlay, hosts: r.hosts.length, createdAt: r.createdAt }
}

/** What `inspect --json` shows: per member its name, namespace path, underlay address and root dir. */
export function inspectView(r: RigInfo) {
  const view = (m: RigInfo['switch']) => ({
    name: m.name,
    netns: m.netns,
    address: m.address,
    ip: m.ip,
    ...(m.address6 === undefined ? {} : { address6: m.address6, ip6: m.ip6 }),
    interface: m.interface,
    root: m.root,
  })
  return {
    name: r.name,
    state: shownState(r),
    driver: r.driver,
    underlay: r.underlay,
    gateway: r.gateway,
    ...(r.underlay6 === undefined ? {} : { underlay6: r.underlay6, gateway6: r.gateway6 }),
    createdAt: r.createdAt,
    switch: view(r.switch),
    hosts: r.hosts.map(view),
  }
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n'
}
