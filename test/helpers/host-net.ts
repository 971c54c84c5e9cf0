// Facts about the machine's own network namespace for tests that must run there (the podman test):
// IPv4 subnets no route or address of the host overlaps, and a TCP port nothing listens on.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { randomInt } from 'node:crypto'

function v4(a: string): number {
  const p = a.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

function range(cidr: string): [number, number] {
  const [a, l] = cidr.split('/')
  const len = l === undefined ? 32 : Number(l)
  const size = len === 0 ? 2 ** 32 : 2 ** (32 - len)
  const start = Math.floor(v4(a ?? '0.0.0.0') / size) * size
  return [start, start + size - 1]
}

/** Every IPv4 prefix the host routes or holds in any table (default routes left out). */
export function hostV4Prefixes(): string[] {
  const out: string[] = []
  const routes = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8', timeout: 10_000 }) || '[]') as { dst?: string }[]
  for (const r of routes) if (r.dst !== undefined && r.dst !== 'default' && /^\d/.test(r.dst)) out.push(r.dst)
  const addrs = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr'], { encoding: 'utf8', timeout: 10_000 }) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[]
  for (const l of addrs) for (const a of l.addr_info ?? []) out.push(`${a.local}/${a.prefixlen}`)
  return out
}

/**
 * `count` distinct random /24s inside 10.128.0.0/9 that overlap nothing the host routes or holds
 * (nor each other), as "10.X.Y" prefixes (append ".0/24", ".1", ...).
 */
export function freeV4Slash24s(count: number): string[] {
  const taken = hostV4Prefixes().map(range)
  const picked: string[] = []
  for (let tries = 0; picked.length < count; tries++) {
    if (tries > 1000) throw new Error('no free /24 in 10.128.0.0/9')
    const p = `10.${randomInt(128, 255)}.${randomInt(0, 256)}`
    const [s, e] = range(`${p}.0/24`)
    if (picked.includes(p) || taken.some(([ts, te]) => ts <= e && s <= te)) continue
    picked.push(p)
  }
  return picked
}

/**
 * A TCP port nothing on the host listens on right now, below the ephemeral range (so no outgoing
 * connection of the test can take it meanwhile): random in [20000, 32000), checked by binding it once.
 */
export async function freeTcpPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = randomInt(20000, 32000)
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free TCP port in [20000, 32000)')
}
