// Turning parsed -p specs into the CNI `portMappings` capability: fixed host ports pass through; a host
// range with one container port, or no host port at all, gets a free port chosen here (Docker picks
// from its range or the kernel's ephemeral range the same way). "Free" = we can bind it in this
// (the host's) network namespace right now; portmap itself still refuses a port another container holds.
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { CliError } from '../cli-error.js'
import type { PortSpec, Protocol } from './port-spec.js'

/** One entry of the CNI `portMappings` capability (CNI CONVENTIONS.md). */
export interface PortMapping {
  hostPort: number
  containerPort: number
  protocol: Protocol
  hostIP?: string
}

export type PortProbe = (protocol: Protocol, hostIP: string, port: number) => Promise<boolean>

/** Binds the port on the wildcard address of the host IP's family and lets it go again. */
export const probePort: PortProbe = async (protocol, hostIP, port) => {
  const v6 = hostIP.includes(':')
  const host = v6 ? '::' : '0.0.0.0'
  if (protocol === 'sctp') return true // Node cannot bind SCTP; portmap reports a clash itself
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const s = createSocket(v6 ? 'udp6' : 'udp4')
      s.once('error', () => {
        s.close()
        resolve(false)
      })
      s.bind({ port, address: host, exclusive: true }, () => s.close(() => resolve(true)))
    })
  }
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

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

/** Resolves every spec to one concrete mapping; throws CliError when a range has no free port. */
export async function resolveHostPorts(specs: readonly PortSpec[], probe: PortProbe = probePort): Promise<PortMapping[]> {
  const taken = new Set<string>()
  const key = (s: PortSpec, port: number) => `${s.hostIP}|${port}/${s.protocol}`
  for (const s of specs) if (s.hostPorts !== undefined && s.hostPorts.start === s.hostPorts.end) taken.add(key(s, s.hostPorts.start))

  const out: PortMapping[] = []
  for (const s of specs) {
    let hostPort: number | undefined
    if (s.hostPorts !== undefined && s.hostPorts.start === s.hostPorts.end) {
      hostPort = s.hostPorts.start
    } else if (s.hostPorts !== undefined) {
      for (let p = s.hostPorts.start; p <= s.hostPorts.end && hostPort === undefined; p++) {
        if (!taken.has(key(s, p)) && (await probe(s.protocol, s.hostIP, p))) hostPort = p
      }
      if (hostPort === undefined) {
        throw new CliError(`no free host port in ${s.hostPorts.start}-${s.hostPorts.end}/${s.protocol} for container port ${s.containerPort}`, 'choose another host port range')
      }
    } else {
      const r = ephemeralRange()
      for (let tries = 0; tries < 64 && hostPort === undefined; tries++) {
        const p = r.start + Math.floor(Math.random() * (r.end - r.start + 1))
        if (!taken.has(key(s, p)) && (await probe(s.protocol, s.hostIP, p))) hostPort = p
      }
      if (hostPort === undefined) throw new CliError(`no free ephemeral host port for container port ${s.containerPort}/${s.protocol}`, 'give a host port explicitly')
    }
    taken.add(key(s, hostPort))
    out.push({ hostPort, containerPort: s.containerPort, protocol: s.protocol, ...(s.hostIP !== '' ? { hostIP: s.hostIP } : {}) })
  }
  return out
}

/** "0.0.0.0:8080->80/tcp" style text for ps. */
export function formatPortMapping(m: PortMapping): string {
  const ip = m.hostIP === undefined ? '' : m.hostIP.includes(':') ? `[${m.hostIP}]:` : `${m.hostIP}:`
  return `${ip}${m.hostPort}->${m.containerPort}/${m.protocol}`
}
