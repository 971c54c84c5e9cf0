// HTTP probes of the tests that run a real client (podman, containerd): one GET from this process that
// answers with the body or "ERR ...", never throwing, and a retry loop for servers still starting.
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
