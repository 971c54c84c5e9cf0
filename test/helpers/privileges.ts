// Privilege checks for integration tests: each returns false (run) or a reason string (skip, counted by tap).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export function needsRoot(): false | string {
  return process.getuid?.() === 0 ? false : 'needs root with CAP_NET_ADMIN'
}

const kindCache = new Map<string, boolean>()

/** Whether the kernel can create a link of this kind (dummy, vxlan, macvlan, ...). Probed in a throw-away netns. */
export function linkKindAvailable(kind: string): boolean {
  const cached = kindCache.get(kind)
  if (cached !== undefined) return cached
  let ok = false
  try {
    execFileSync('unshare', ['--net', 'sh', '-c', probeScript(kind)], { stdio: 'ignore', timeout: 5000 })
    ok = true
  } catch {
    ok = false
  }
  kindCache.set(kind, ok)
  return ok
}

// Some kinds cannot be created bare: vxlan needs an id, and the kinds stacked on a lower device need one.
const PROBE_ARGS: Record<string, string> = { vxlan: 'id 1 dstport 4789', vlan: 'id 1' }
const NEEDS_PARENT = new Set(['macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vlan'])

function probeScript(kind: string): string {
  if (!/^[a-z0-9_]+$/.test(kind)) throw new Error(`odd link kind "${kind}"`)
  const parent = NEEDS_PARENT.has(kind) ? 'ip link add probep type veth peer name probeq && ' : ''
  return `${parent}ip link add probe0 ${parent ? 'link probep ' : ''}type ${kind} ${PROBE_ARGS[kind] ?? ''}`
}

export function needsLinkKind(kind: string): false | string {
  return needsRoot() || (linkKindAvailable(kind) ? false : `kernel has no "${kind}" link kind`)
}

export function needsBuiltBin(name: string, binDir: string): false | string {
  return existsSync(`${binDir}/${name}`) ? false : `bin/${name} not built: run npm run build`
}
