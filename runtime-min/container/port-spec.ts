// `-p [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp|sctp]`, parsed as Docker parses it
// (docker/go-connections nat.ParsePortSpec): the last ':' part is the container port, the one before it
// the host port, everything before that the host IP (so unbracketed IPv6 works: "::1:80:80"); a
// container range maps onto an equal host range one by one; a host range with ONE container port is a
// range to pick a free host port from; an empty (or 0) host port means "any free port".
// One deliberate difference: container port 0 is refused (a CNI portMapping needs a real target port).
import { isIP } from 'node:net'
import { CliError } from '../cli-error.js'

export type Protocol = 'tcp' | 'udp' | 'sctp'
const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp']

export interface PortRange {
  start: number
  end: number
}

/** One container port and where it is published; `hostPorts` undefined = any free port. */
export interface PortSpec {
  /** '' = all host addresses */
  hostIP: string
  /** exactly one port, or a range to choose one free port from; undefined = an ephemeral port */
  hostPorts: PortRange | undefined
  containerPort: number
  protocol: Protocol
}

const USAGE = 'use [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp|sctp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp'

function bad(raw: string, why: string): CliError {
  return new CliError(`invalid port mapping "${raw}": ${why}`, USAGE)
}

/** Docker's splitParts: [hostIP, hostPort, containerPort]. */
function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':')
  const n = parts.length
  if (n === 1) return ['', '', parts[0] ?? '']
  if (n === 2) return ['', parts[0] ?? '', parts[1] ?? '']
  return [parts.slice(0, n - 2).join(':'), parts[n - 2] ?? '', parts[n - 1] ?? '']
}

/** A decimal port 0..65535 (leading zeros allowed, as Go's ParseUint); undefined when not one. */
function portNumber(s: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(s)) return undefined
  const n = Number(s)
  return n <= 65535 ? n : undefined
}

/** "N" or "N-M" with N <= M; the message says what is wrong. */
export function parsePortRange(s: string): PortRange | string {
  if (s === '') return 'empty port'
  const dash = s.indexOf('-')
  const a = dash < 0 ? s : s.slice(0, dash)
  const b = dash < 0 ? s : s.slice(dash + 1)
  const start = portNumber(a)
  if (start === undefined) return `"${a}" is not a port number (0-65535)`
  const end = portNumber(b)
  if (end === undefined) return `"${b}" is not a port number (0-65535)`
  if (end < start) return `range ${s} ends before it starts`
  return { start, end }
}

function parseHostIP(raw: string, ip: string): string {
  if (ip === '') return ''
  let addr = ip
  if (addr.startsWith('[')) {
    // Brackets are only a wrapper: "[::1]", "[2001:db8::1]" (Go strips them with SplitHostPort).
    if (!addr.endsWith(']') || addr.indexOf(']') !== addr.length - 1) throw bad(raw, `host IP ${ip} has unbalanced brackets`)
    addr = addr.slice(1, -1)
  }
  if (addr.includes('%') || isIP(addr) === 0) throw bad(raw, `host IP "${ip}" is not an IPv4 or IPv6 address`)
  return addr
}

/** Parses one -p value into one PortSpec per container port. Throws CliError with what to fix. */
export function parsePortSpec(raw: string): PortSpec[] {
  const [ipPart, hostPart, containerPart] = splitParts(raw)
  const slash = containerPart.indexOf('/')
  const portText = slash < 0 ? containerPart : containerPart.slice(0, slash)
  const protoText = slash < 0 ? '' : containerPart.slice(slash + 1)
  if (portText === '') throw bad(raw, 'no container port given')
  const protocol = (protoText === '' ? 'tcp' : protoText.toLowerCase()) as Protocol
  if (!PROTOCOLS.includes(protocol)) throw bad(raw, `unknown protocol "${protoText}" (use tcp, udp or sctp)`)
  const hostIP = parseHostIP(raw, ipPart)

  const cont = parsePortRange(portText)
  if (typeof cont === 'string') throw bad(raw, `container port: ${cont}`)
  if (cont.start === 0) throw bad(raw, 'container port 0 is not a port (use 1-65535)')
  let host: PortRange | undefined
  if (hostPart !== '') {
    const h = parsePortRange(hostPart)
    if (typeof h === 'string') throw bad(raw, `host port: ${h}`)
    host = h
  }
  const count = cont.end - cont.start + 1
  if (host !== undefined && host.end - host.start !== cont.end - cont.start && count !== 1) {
    throw bad(raw, `host range ${hostPart} and container range ${portText} differ in length`)
  }

  const out: PortSpec[] = []
  for (let i = 0; i < count; i++) {
    let hostPorts: PortRange | undefined
    if (host !== undefined && count === 1) hostPorts = host.start === 0 && host.end === 0 ? undefined : host
    else if (host !== undefined) hostPorts = { start: host.start + i, end: host.start + i }
    // "0-5:80-85" would map port 0: treat host port 0 as "any free port", as Docker does.
    if (hostPorts !== undefined && hostPorts.start === 0 && hostPorts.end === 0) hostPorts = undefined
    out.push({ hostIP, hostPorts, containerPort: cont.start + i, protocol })
  }
  return out
}

/** Parses every -p value; a spec listed twice (same host address, port and protocol) is refused. */
export function parsePortSpecs(raws: readonly string[]): PortSpec[] {
  const all = raws.flatMap(parsePortSpec)
  const seen = new Map<string, string>()
  for (const s of all) {
    if (s.hostPorts === undefined || s.hostPorts.start !== s.hostPorts.end) continue
    const key = `${s.hostIP}|${s.hostPorts.start}/${s.protocol}`
    const prev = seen.get(key)
    if (prev !== undefined) {
      throw new CliError(`host port ${s.hostIP === '' ? '' : `${s.hostIP}:`}${s.hostPorts.start}/${s.protocol} is published twice`, 'publish each host port once')
    }
    seen.set(key, key)
  }
  return all
}
