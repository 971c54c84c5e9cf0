// ipam.resolvConf: a resolv.conf whose nameserver, domain, search and options lines become the result's
// dns, read as the reference reads it (comments start with '#' or ';'; a line needs a value; the last
// domain wins; search and options accumulate).
import { readFileSync } from 'node:fs'
import type { CniDns } from '../cni/result.js'
import { CniCode, CniError } from '../errors/cni-error.js'
import { errorCode } from '../errors/sys-error.js'

export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const [key, ...values] = line.split(/\s+/)
    if (values.length === 0) continue
    switch (key) {
      case 'nameserver':
        ;(dns.nameservers ??= []).push(values[0] as string)
        break
      case 'domain':
        dns.domain = values[0] as string
        break
      case 'search':
        ;(dns.search ??= []).push(...values)
        break
      case 'options':
        ;(dns.options ??= []).push(...values)
        break
    }
  }
  return dns
}

/** CniError 5 naming the key and the file when it cannot be read. */
export function readResolvConf(path: string): CniDns {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `failed to read ipam.resolvConf ${path}: ${errorCode(e) ?? String(e)}`, undefined, { cause: e })
  }
  return parseResolvConf(text)
}
