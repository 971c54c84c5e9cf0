// Host processes already listening on a host port (read from /proc/thread-self/net/{tcp,tcp6,udp,udp6}: this
// thread's network namespace, the host's). A DNAT mapping would silently take such a port's traffic away
// from the process, so ADD reports it.
import { readFileSync } from 'node:fs'
import type { IpFamily } from '../../pkg/ip/cidr.js'

export interface Listener {
  protocol: 'tcp' | 'udp'
  family: IpFamily
  /** canonical address; '0.0.0.0' / '::' for a wildcard */
  ip: string
  port: number
}

const TCP_LISTEN = '0A'
const UDP_UNCONNECTED = '07'

/** Parses one /proc/net/{tcp,udp}[6] table (pure, for tests). */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp', family: IpFamily): Listener[] {
  const out: Listener[] = []
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    if (cols.length < 4) continue
    const [addr, port] = (cols[1] ?? '').split(':')
    if (addr === undefined || port === undefined) continue
    if (cols[3] !== (protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED)) continue
    out.push({ protocol, family, ip: hexToIp(addr, family), port: parseInt(port, 16) })
  }
  return out
}

/** /proc/net prints the address as 32-bit words in host (little-endian) order. */
function hexToIp(hex: string, family: IpFamily): string {
  const bytes: number[] = []
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8)
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(word.slice(i, i + 2), 16))
  }
  if (family === 4) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  const full = groups.join(':')
  // Canonical enough for comparisons: the URL parser compresses zeros.
  return new URL(`http://[${full}]/`).hostname.slice(1, -1)
}

export function hostListeners(): Listener[] {
  const out: Listener[] = []
  for (const protocol of ['tcp', 'udp'] as const) {
    for (const family of [4, 6] as const) {
      try {
        out.push(...parseProcNet(readFileSync(`/proc/thread-self/net/${protocol}${family === 6 ? '6' : ''}`, 'utf8'), protocol, family))
      } catch {
        // no IPv6 in this kernel, or /proc not mounted: nothing to report
      }
    }
  }
  return out
}

/**
 * Whether a listener takes traffic for (family, hostIP, port): same port, and its address is the hostIP,
 * a wildcard of the family, or '::' (a dual-stack socket also takes IPv4), or hostIP is "every address"
 * and the listener's address is of the family.
 */
export function listenerCovers(l: Listener, family: IpFamily, hostIP: string | undefined, port: number): boolean {
  if (l.port !== port) return false
  if (l.ip === '::') return true
  if (l.family !== family) return l.family === 6 && l.ip === `::ffff:${hostIP ?? ''}`
  return hostIP === undefined || l.ip === hostIP || l.ip === (family === 4 ? '0.0.0.0' : '::')
}
