// HTTP probes of the tests that run a real client (podman, containerd): one GET from this process (or from
// a node inside another network namespace) that answers with the body or "ERR ...", never throwing, and a
// retry loop for servers still starting.
import { spawnSync } from 'node:child_process'
import { request } from 'node:http'

/** GET http://host:port/ from this process; the body, or "ERR ..." */
export function httpGet(host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve(body))
      res.on('error', (e) => resolve(`ERR ${e.message}`))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve(`ERR ${e.message}`))
    req.end()
  })
}

// The same GET run by node inside another namespace (through nsenter).
const NS_GET = `
const [h, p] = process.argv.slice(1)
const req = require('http').request({ host: h, port: Number(p), path: '/', timeout: 3000, agent: false }, (res) => {
  let b = ''; res.setEncoding('utf8'); res.on('data', (c) => (b += c)); res.on('end', () => { process.stdout.write(b); process.exit(0) })
})
req.on('timeout', () => req.destroy(new Error('timeout')))
req.on('error', (e) => { console.log('ERR ' + e.message); process.exit(0) })
req.end()
`

/** GET http://host:port/ from inside the network namespace at `netnsPath`; the body, or "ERR ..." */
export function httpGetIn(netnsPath: string, host: string, port: number): string {
  const r = spawnSync('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', NS_GET, host, String(port)], { encoding: 'utf8', timeout: 10_000 })
  return (r.stdout ?? '').trim() || `ERR exit ${String(r.status)} ${r.stderr ?? ''}`
}

/** Retries until the answer contains `want` or `ms` pass (a server may still be starting); the last answer. */
export async function until(fetch: () => Promise<string> | string, want: string, ms = 15_000): Promise<string> {
  const end = Date.now() + ms
  let last = ''
  for (;;) {
    last = await fetch()
    if (last.includes(want) || Date.now() > end) return last
    await new Promise((r) => setTimeout(r, 250))
  }
}
