// Option parsing for `berth cni`, cnitool's rules: --args is "K=V;K2=V2" (every pair with a non-empty
// key and value), --cap NAME=JSON (repeatable; the same as one key of cnitool's CAP_ARGS object), and the
// container ID cnitool derives from the namespace path: "cnitool-" + the first 10 bytes of
// sha512(absolute netns path) in hex, so berth and cnitool address the same attachment. cnitool's
// environment variables work as defaults: CNI_IFNAME, CNI_ARGS and CAP_ARGS (a JSON object).
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { CliError } from '../cli-error.js'

export function parseArgsOption(s: string | undefined): [string, string][] {
  if (s === undefined || s === '') return []
  return s.split(';').map((pair): [string, string] => {
    const kv = pair.split('=')
    if (kv.length !== 2 || kv[0] === '' || kv[1] === '') {
      throw new CliError(`invalid --args pair ${JSON.stringify(pair)}`, "write KEY=VALUE pairs separated by ';', e.g. --args 'IgnoreUnknown=1;K8S_POD_NAME=web'")
    }
    return [kv[0] as string, kv[1] as string]
  })
}

const CAP_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/

/** --cap values → capabilityArgs; a later NAME replaces an earlier one. */
export function parseCapOptions(caps: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const c of caps) {
    const eq = c.indexOf('=')
    const name = eq < 0 ? c : c.slice(0, eq)
    if (eq < 0 || !CAP_NAME.test(name)) {
      throw new CliError(`invalid --cap ${JSON.stringify(c)}`, `write NAME=JSON, e.g. --cap 'portMappings=[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'`)
    }
    try {
      out[name] = JSON.parse(c.slice(eq + 1)) as unknown
    } catch (e) {
      throw new CliError(`invalid --cap ${name}: the value is not JSON (${(e as Error).message})`, `quote it for the shell, e.g. --cap '${name}=["10.88.0.5"]'`)
    }
  }
  return out
}

export function cnitoolContainerId(netnsPath: string): string {
  const digest = createHash('sha512').update(resolve(netnsPath)).digest()
  return `cnitool-${digest.subarray(0, 10).toString('hex')}`
}

/** cnitool's CAP_ARGS: a JSON object of capability args; empty or unset is none. */
export function parseCapArgsEnv(s: string | undefined): Record<string, unknown> {
  if (s === undefined || s.trim() === '') return {}
  let v: unknown
  try {
    v = JSON.parse(s)
  } catch (e) {
    throw new CliError(`invalid CAP_ARGS: not JSON (${(e as Error).message})`, `set it to a JSON object such as {"ips":["10.88.0.5/16"]}, or unset it`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError('invalid CAP_ARGS: not a JSON object', `set it to a JSON object such as {"ips":["10.88.0.5/16"]}, or unset it`)
  return v as Record<string, unknown>
}

export interface AttachOptions {
  ifname?: string | undefined
  args?: string | undefined
  cap?: readonly string[] | undefined
}

/** Options over cnitool's environment variables over defaults; --cap entries replace CAP_ARGS keys. */
export function resolveAttachOptions(o: AttachOptions, env: Readonly<Record<string, string | undefined>>): { ifName: string; args: [string, string][]; capabilityArgs: Record<string, unknown> } {
  const envIf = env['CNI_IFNAME']
  return {
    ifName: o.ifname ?? (envIf !== undefined && envIf !== '' ? envIf : 'eth0'),
    args: parseArgsOption(o.args ?? env['CNI_ARGS']),
    capabilityArgs: { ...parseCapArgsEnv(env['CAP_ARGS']), ...parseCapOptions(o.cap ?? []) },
  }
}
