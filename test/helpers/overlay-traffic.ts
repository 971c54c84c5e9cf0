// Traffic checks between test namespaces: one ping, and a TCP payload sent through socat and read back.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { TestNetns } from './netns.js'

export function pingOk(from: TestNetns, to: string, opts: { size?: number; df?: boolean } = {}): boolean {
  try {
    from.exec('ping', ['-c', '1', '-W', '2', ...(opts.df ? ['-M', 'do'] : []), ...(opts.size !== undefined ? ['-s', String(opts.size)] : []), to])
    return true
  } catch {
    return false
  }
}

/** Sends a random payload from `from` to a socat listener in `to` at ip:port; resolves with whether it arrived intact. */
export async function tcpPayloadOk(from: TestNetns, to: TestNetns, ip: string, port: number): Promise<boolean> {
  const payload = randomBytes(6000).toString('hex')
  const server = spawn('nsenter', [`--net=${to.path}`, '--', 'socat', '-u', `TCP-LISTEN:${port},reuseaddr`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: Buffer[] = []
  server.stdout.on('data', (c: Buffer) => chunks.push(c))
  const done = new Promise<void>((resolve) => server.on('close', () => resolve()))
  try {
    // wait for the listener
    for (let i = 0; i < 100; i++) {
      if (to.exec('ss', ['-Htln', `sport = :${port}`]).trim() !== '') break
      await new Promise((r) => setTimeout(r, 20))
    }
    from.exec('socat', ['-u', 'STDIN', `TCP:${ip}:${port},connect-timeout=3`], { input: payload, timeout: 10_000 })
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))])
    return Buffer.concat(chunks).toString() === payload
  } catch {
    return false
  } finally {
    server.kill('SIGKILL')
  }
}
