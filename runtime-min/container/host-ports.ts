// Turning parsed -p specs into the CNI `portMappings` capability: fixed host ports pass through; a host
// range with one container port, or no host port at all, gets a free port chosen here (Docker picks
// from its range or the kernel's ephemeral range the same way). "Free" means both: no container
// publishes it (portmap's reservation records of this network namespace, the one the plugins run in:
// the host's, or a rig host's under `berth rig exec`), and it can be bound here right now (no host
// process uses it). The choice is made before ADD, outside portmap's lock, so two runs may still pick
// the same port: the later ADD is refused, and `rechooseHostPorts` moves on to the next candidate.
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { portPublished, type ReadOptions } from '../../pkg/port-reservations/reservations.js'
import { CliError } from '../cli-error.js'
import type { PortSpec, Protocol } from './port-spec.js'

/** One entry of the CNI `portMappings` capability (CNI CONVENTIONS.md). */
export interface PortMapping {
  hostPort: number
  containerPort: number
  protocol: Protocol
  hostIP?: string
}

/** Whether the port can be bound on the host now (hostIP '' = every address). */
export type PortProbe = (protocol: Protocol, hostIP: string, port: number) => Promise<boolean>
/** Whether a container already publishes the port (hostIP '' = any address). */
export type PublishedCheck = (protocol: Protocol, hostIP: string, port: number) => boolean

export interface PortChecks {
  probe: PortProbe
  published: PublishedCheck
}

type BindResult = 'free' | 'in use' | 'unusable'

/** Binds (TCP listen or UDP bind, exclusively) and lets go; 'unusable' for errors other than a clash. */
function tryBind(protocol: 'tcp' | 'udp', address: string, ipv6Only: boolean, port: number): Promise<BindResult> {
  const fail = (e: NodeJS.ErrnoException): BindResult => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? 'in use' : 'unusable')
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', ipv6Only })
      s.once('error', (e) => {
        s.close()
        resolve(fail(e))
      })
      s.bind({ port, address, exclusive: true }, () => s.close(() => resolve('free')))
    })
  }
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', (e) => resolve(fail(e)))
    srv.listen({ port, host: address, exclusive: true, ipv6Only }, () => srv.close(() => resolve('free')))
  })
}

/**
 * Binds the port where portmap would publish it, in this process's (the host's) network namespace: on
 * the host IP (the family's wildcard if the address is not local), or with no host IP on 0.0.0.0 and
 * on :: (IPv6 only, so a v4 listener is not counted twice; skipped where IPv6 is unavailable).
 */
export const probePort: PortProbe = async (protocol, hostIP, port) => {
  if (protocol === 'sctp') return true // Node cannot bind SCTP; portmap reports a clash itself
  if (hostIP === '') {
    if ((await tryBind(protocol, '0.0.0.0', false, port)) === 'in use') return false
    return (await tryBind(protocol, '::', true, port)) !== 'in use'
  }
  const r = await tryBind(protocol, hostIP, false, port)
  if (r !== 'unusable') return r === 'free'
  return (await tryBind(protocol, hostIP.includes(':') ? '::' : '0.0.0.0', hostIP.includes(':'), port)) !== 'in use'
}

/**
 * A check against portmap's reservation records, read at each call (small files named by port). Without
 * a host IP every family counts: the container's families are known only after its ADD. A record of a
 * flushed table may hold a port until the next ADD wipes it: a port skipped for nothing, never one taken
 * twice.
 */
export const publishedIn =
  (opts: ReadOptions = {}): PublishedCheck =>
  (protocol, hostIP, port) => {
    const families = hostIP === '' ? ([4, 6] as const) : ([hostIP.includes(':') ? 6 : 4] as const)
    const any = hostIP === '' || hostIP === '0.0.0.0' || hostIP === '::'
    return families.some((family) => portPublished({ family, protocol, hostIP: any ? undefined : hostIP }, port, opts))
  }

/** The records of this process's network namespace (portmap's default root). */
export const publishedByRecords: PublishedCheck = publishedIn()

export const hostChecks: PortChecks = { probe: probePort, published: publishedByRecords }

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range), 32768-60999 if unreadable. */
export function ephemeralRange(): { start: number; end: number } {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (a !== undefined && b !== undefined && a > 0 && b >= a) return { start: a, end: b }
  } catch {
    // fall through
  }
  return { start: 32768, end: 60999 }
}

const portKey = (hostIP: string, port: number, protocol: Protocol) => `${hostIP}|${port}/${protocol}`
const isFixed = (s: PortSpec) => s.hostPorts !== undefined && s.hostPorts.start === s.hostPorts.end

/**
 * Resolves every spec to one concrete mapping (same order); throws CliError when a range has no free port.
 * `avoid`: ports (portKey) not to choose, those a failed ADD was refused.
 */
export async function resolveHostPorts(specs: readonly PortSpec[], checks: PortChecks = hostChecks, avoid: ReadonlySet<string> = new Set()): Promise<PortMapping[]> {
  const taken = new Set<string>(avoid)
  const key = (s: PortSpec, port: number) => portKey(s.hostIP, port, s.protocol)
  for (const s of specs) if (isFixed(s)) taken.add(key(s, s.hostPorts!.start))
  const free = async (s: PortSpec, p: number) => !taken.has(key(s, p)) && !checks.published(s.protocol, s.hostIP, p) && (await checks.probe(s.protocol, s.hostIP, p))

  const out: PortMapping[] = []
  for (const s of specs) {
    let hostPort: number | undefined
    if (s.hostPorts !== undefined && isFixed(s)) {
      hostPort = s.hostPorts.start
    } else if (s.hostPorts !== undefined) {
      for (let p = s.hostPorts.start; p <= s.hostPorts.end && hostPort === undefined; p++) if (await free(s, p)) hostPort = p
      if (hostPort === undefined) {
        const where = `${s.hostIP === '' ? '' : `${s.hostIP.includes(':') ? `[${s.hostIP}]` : s.hostIP}:`}${s.hostPorts.start}-${s.hostPorts.end}/${s.protocol}`
        throw new CliError(
          `no free host port in ${where} for container port ${s.containerPort}: each is published by a container or in use on the host`,
          'choose another host port range, or remove what holds it',
        )
      }
    } else {
      const r = ephemeralRange()
      for (let tries = 0; tries < 64 && hostPort === undefined; tries++) {
        const p = r.start + Math.floor(Math.random() * (r.end - r.start + 1))
        if (await free(s, p)) hostPort = p
      }
      if (hostPort === undefined) throw new CliError(`no free ephemeral host port for container port ${s.containerPort}/${s.protocol}`, 'give a host port explicitly')
    }
    taken.add(key(s, hostPort))
    out.push({ hostPort, containerPort: s.containerPort, protocol: s.protocol, ...(s.hostIP !== '' ? { hostIP: s.hostIP } : {}) })
  }
  return out
}

/** Whether berth chose any of these host ports (a range or an ephemeral port), rather than the user. */
export const choosesPorts = (specs: readonly PortSpec[]): boolean => specs.some((s) => !isFixed(s))

/**
 * After the ADD publishing `chosen` failed: the ports berth chose (not the fixed ones) that are now
 * published by another container or in use on the host were taken meanwhile (a concurrent run got
 * there first); they go into `avoid` and the specs are resolved again. undefined when none of them is
 * taken: the failure is not one a different port would cure. Throws CliError when a range is used up.
 */
export async function rechooseHostPorts(specs: readonly PortSpec[], chosen: readonly PortMapping[], avoid: Set<string>, checks: PortChecks = hostChecks): Promise<PortMapping[] | undefined> {
  let moved = false
  for (const [i, s] of specs.entries()) {
    const m = chosen[i]
    if (isFixed(s) || m === undefined) continue
    if (checks.published(s.protocol, s.hostIP, m.hostPort) || !(await checks.probe(s.protocol, s.hostIP, m.hostPort))) {
      avoid.add(portKey(s.hostIP, m.hostPort, s.protocol))
      moved = true
    }
  }
  return moved ? resolveHostPorts(specs, checks, avoid) : undefined
}

/** "0.0.0.0:8080->80/tcp" style text for ps. */
export function formatPortMapping(m: PortMapping): string {
  const ip = m.hostIP === undefined ? '' : m.hostIP.includes(':') ? `[${m.hostIP}]:` : `${m.hostIP}:`
  return `${ip}${m.hostPort}->${m.containerPort}/${m.protocol}`
}
