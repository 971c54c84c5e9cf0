// Running a network list's plugin chain the way libcni's CNIConfig does (api.go): ADD in order, each
// plugin getting the previous result as prevResult and, in runtimeConfig, only the capability values
// it declares in `capabilities`; DEL in reverse order with the cached result as prevResult; CHECK with
// the cached result; GC and STATUS for lists of version 1.1.0 and later.
//
// Deliberate differences from libcni, each for a runtime that must leave nothing behind:
// - a failed ADD is rolled back: the plugins that succeeded get DEL (reverse order, best effort), as
//   podman tears down after a failed setup; the failing plugin cleans up after itself (every plugin must),
//   and is not sent DEL, which could remove what an earlier attachment with the same names owns; the
//   original error is what the caller sees;
// - ADD is refused when the cache already holds this attachment (same network, container ID, ifname):
//   its interface and address would collide, and the rollback could then hurt the existing attachment;
// - DEL runs every plugin even when one fails (errors are collected); the cache file stays then, so a
//   retried DEL still has prevResult;
// - DEL prefers the conflist recorded in the cache over the one on disk (the one the attachment was made
//   with), with the cached CNI_ARGS and capability args: what podman does through GetNetworkListCachedConfig.
import { convertResult, parseResult, type CniResult } from '../../pkg/cni/result.js'
import type { PluginConf } from '../../pkg/cni/schema.js'
import { compareVersions } from '../../pkg/cni/spec.js'
import { validateContainerId, validateIfName, validateNetworkName } from '../../pkg/cni/validate.js'
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { describe } from '../../pkg/errors/describe.js'
import { execPlugin } from '../../pkg/invoke/exec-plugin.js'
import { findInPath } from '../../pkg/invoke/find-in-path.js'
import { deleteCache, listCachedAttachments, readCache, writeCache } from './cache.js'
import { networkListFromBytes } from './conf.js'
import type { CniEnv, GcAttachment, NetworkList, RuntimeConf } from './types.js'

const atLeast = (v: string, min: string) => compareVersions(v, min) >= 0

/** The stdin of one plugin (libcni buildOneConfig + injectRuntimeConfig). */
export function pluginStdin(list: NetworkList, plugin: PluginConf, prevResult: CniResult | undefined, rt: RuntimeConf | undefined): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion }
  if (prevResult !== undefined) conf['prevResult'] = convertResult(prevResult, list.cniVersion)
  if (rt !== undefined) {
    const rc = capabilityConfig(plugin, rt.capabilityArgs)
    // libcni replaces the whole runtimeConfig, and only when some capability applies
    if (Object.keys(rc).length > 0) conf['runtimeConfig'] = rc
  }
  return conf
}

/** The capability args this plugin declares (capabilities: {name: true}); the others are withheld. */
export function capabilityConfig(plugin: PluginConf, capabilityArgs: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const rc: Record<string, unknown> = {}
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && Object.hasOwn(capabilityArgs, cap) && capabilityArgs[cap] !== undefined) rc[cap] = capabilityArgs[cap]
  }
  return rc
}

function pluginEnv(command: string, rt: RuntimeConf | undefined, env: CniEnv): Record<string, string | undefined> {
  return {
    ...(env.env ?? process.env),
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt?.containerId ?? '',
    CNI_NETNS: rt?.netns ?? '',
    CNI_IFNAME: rt?.ifName ?? '',
    CNI_ARGS: (rt?.args ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: env.cniPath.join(':'),
  }
}

const describePlugin = (p: PluginConf) => `type=${JSON.stringify(p.type)}${typeof p['name'] === 'string' ? ` name=${JSON.stringify(p['name'])}` : ''}`

async function exec(command: string, plugin: PluginConf, stdin: Record<string, unknown>, rt: RuntimeConf | undefined, env: CniEnv): Promise<unknown> {
  const exe = findInPath(plugin.type, env.cniPath)
  return execPlugin(exe, { env: pluginEnv(command, rt, env), stdin: Buffer.from(JSON.stringify(stdin)) })
}

/**
 * Wraps a plugin's failure as libcni does ("plugin type=... failed (add): ..."), keeping its code. The
 * message already holds the cause's text; no `cause` link, so one-line printers do not repeat it.
 */
function failed(plugin: PluginConf, verb: string, e: unknown): CniError {
  const code = e instanceof CniError ? e.code : CniCode.Internal
  const details = e instanceof CniError ? e.details : undefined
  return new CniError(code, `plugin ${describePlugin(plugin)} failed (${verb}): ${describe(e)}`, details)
}

export function validateRuntimeConf(list: NetworkList, rt: RuntimeConf): void {
  validateNetworkName(list.name)
  validateContainerId(rt.containerId)
  validateIfName(rt.ifName)
}

/** ADD through the chain; the final result (in the list's version) is cached and returned. */
export async function addNetworkList(list: NetworkList, rt: RuntimeConf, env: CniEnv): Promise<Record<string, unknown>> {
  validateRuntimeConf(list, rt)
  const existing = readCache(env.cacheDir, list.name, rt.containerId, rt.ifName)
  if (existing.state === 'ok' || existing.state === 'legacy') {
    throw new AttachmentExistsError(list.name, rt.containerId, rt.ifName)
  }
  let result: CniResult | undefined
  const succeeded: PluginConf[] = []
  try {
    for (const plugin of list.plugins) {
      try {
        const out = await exec('ADD', plugin, pluginStdin(list, plugin, result, rt), rt, env)
        if (out === undefined) throw new CniError(CniCode.DecodingFailure, 'it printed no result')
        result = parseResult(out, `result of plugin ${plugin.type}`, { fallbackVersion: list.cniVersion })
      } catch (e) {
        throw failed(plugin, 'add', e)
      }
      succeeded.push(plugin)
    }
    if (result === undefined) throw new CniError(CniCode.InvalidConfig, `network ${list.name} has no plugins`)
    const printed = convertResult(result, list.cniVersion)
    writeCache(env.cacheDir, {
      containerId: rt.containerId,
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      config: list.bytes,
      cniArgs: rt.args,
      capabilityArgs: rt.capabilityArgs,
      result: printed,
    })
    return printed
  } catch (e) {
    await rollbackAdd(list, succeeded, rt, env, result)
    throw e
  }
}

export class AttachmentExistsError extends CniError {
  constructor(network: string, containerId: string, ifName: string) {
    super(CniCode.InvalidConfig, `network ${network} is already attached to container ${containerId} as ${ifName}; DEL that attachment first`)
  }
}

// DEL for the plugins whose ADD succeeded, last first, with the last result as prevResult.
async function rollbackAdd(list: NetworkList, succeeded: readonly PluginConf[], rt: RuntimeConf, env: CniEnv, result: CniResult | undefined): Promise<void> {
  for (const plugin of [...succeeded].reverse()) {
    try {
      await exec('DEL', plugin, pluginStdin(list, plugin, result, rt), rt, env)
    } catch (e) {
      process.stderr.write(`berth: warning: rollback of ${list.name}: ${describePlugin(plugin)} DEL failed: ${describe(e)}\n`)
    }
  }
}

export interface DelOptions {
  /** use the given list even when the cache recorded another conflist (default false: prefer the cache) */
  ignoreCachedConfig?: boolean
}

/**
 * DEL through the chain in reverse. prevResult and the conflist come from the cache when it is usable;
 * a missing, empty or corrupt cache file never blocks DEL: it then runs without prevResult, with `list`.
 * Every plugin is called; failures are collected into one error (and the cache file is kept for a retry).
 */
export async function delNetworkList(list: NetworkList, rt: RuntimeConf, env: CniEnv, opts: DelOptions = {}): Promise<void> {
  validateRuntimeConf(list, rt)
  const cached = readCache(env.cacheDir, list.name, rt.containerId, rt.ifName)
  let use = list
  let useRt = rt
  let prev: CniResult | undefined
  if (cached.state === 'ok') {
    const e = cached.entry
    if (!opts.ignoreCachedConfig && e.config.length > 0) {
      try {
        const fromCache = networkListFromBytes(e.config, `cached config of ${list.name}`)
        if (fromCache.name === list.name) use = fromCache
      } catch {
        // an unusable cached conflist: the one given will do
      }
    }
    useRt = { ...rt, args: e.cniArgs.length > 0 ? e.cniArgs : rt.args, capabilityArgs: Object.keys(e.capabilityArgs).length > 0 ? e.capabilityArgs : rt.capabilityArgs }
    if (rt.netns === '' && e.netns !== '') useRt = { ...useRt, netns: e.netns }
  }
  // Cached results on DEL came with spec 0.4.0
  if (atLeast(use.cniVersion, '0.4.0')) {
    const raw = cached.state === 'ok' ? cached.entry.result : cached.state === 'legacy' ? cached.result : undefined
    if (raw !== undefined) {
      try {
        prev = parseResult(raw, 'cached result', { fallbackVersion: use.cniVersion })
      } catch {
        prev = undefined
      }
    }
  }
  const errors: CniError[] = []
  for (const plugin of [...use.plugins].reverse()) {
    try {
      await exec('DEL', plugin, pluginStdin(use, plugin, prev, useRt), useRt, env)
    } catch (e) {
      errors.push(failed(plugin, 'delete', e))
    }
  }
  const [first] = errors
  if (first !== undefined) {
    if (errors.length === 1) throw first
    throw new CniError(first.code, errors.map((e) => e.message).join('; '))
  }
  deleteCache(env.cacheDir, list.name, rt.containerId, rt.ifName)
}

/** CHECK through the chain with the cached result (spec 0.4.0+); disableCheck skips it. */
export async function checkNetworkList(list: NetworkList, rt: RuntimeConf, env: CniEnv): Promise<void> {
  validateRuntimeConf(list, rt)
  if (!atLeast(list.cniVersion, '0.4.0')) {
    throw new CniError(CniCode.IncompatibleVersion, `configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command (it needs 0.4.0 or later)`)
  }
  if (list.disableCheck) return
  const cached = readCache(env.cacheDir, list.name, rt.containerId, rt.ifName)
  const raw = cached.state === 'ok' ? cached.entry.result : cached.state === 'legacy' ? cached.result : undefined
  if (raw === undefined) {
    const why = cached.state === 'corrupt' ? cached.reason : 'there is no cached result'
    throw new CniError(CniCode.UnknownContainer, `cannot check ${list.name} for container ${rt.containerId} ${rt.ifName}: ${why}; ADD it first`)
  }
  const prev = parseResult(raw, 'cached result', { fallbackVersion: list.cniVersion })
  for (const plugin of list.plugins) {
    try {
      await exec('CHECK', plugin, pluginStdin(list, plugin, prev, rt), rt, env)
    } catch (e) {
      throw failed(plugin, 'check', e)
    }
  }
}

/**
 * GC (libcni GCNetworkList): DEL every cached attachment of this network that is not in `valid`, then
 * (spec 1.1.0+) send GC with cni.dev/valid-attachments to each plugin. Errors are collected.
 * Returns the attachments it deleted.
 */
export async function gcNetworkList(list: NetworkList, valid: readonly GcAttachment[], env: CniEnv): Promise<GcAttachment[]> {
  if (list.disableGC) return []
  const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`))
  const errors: string[] = []
  const removed: GcAttachment[] = []
  for (const a of listCachedAttachments(env.cacheDir, { network: list.name })) {
    if (keep.has(`${a.containerId}\0${a.ifName}`)) continue
    const rt: RuntimeConf = { containerId: a.containerId, netns: a.netns, ifName: a.ifName, args: a.cniArgs, capabilityArgs: a.capabilityArgs }
    try {
      await delNetworkList(list, rt, env)
      removed.push({ containerID: a.containerId, ifname: a.ifName })
    } catch (e) {
      errors.push(`failed to delete stale attachment ${a.containerId} ${a.ifName}: ${describe(e)}`)
    }
  }
  if (atLeast(list.cniVersion, '1.1.0')) {
    const attachments = valid.map((a) => ({ containerID: a.containerID, ifname: a.ifname }))
    for (const plugin of list.plugins) {
      const stdin = { ...plugin, name: list.name, cniVersion: list.cniVersion, 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments }
      try {
        await exec('GC', plugin, stdin, undefined, env)
      } catch (e) {
        errors.push(`failed to GC plugin ${plugin.type}: ${describe(e)}`)
      }
    }
  }
  if (errors.length > 0) throw new CniError(CniCode.Internal, `GC of ${list.name}: ${errors.join('; ')}`)
  return removed
}

/** STATUS (spec 1.1.0+; earlier versions report nothing): the first plugin that is not ready fails it. */
export async function statusNetworkList(list: NetworkList, env: CniEnv): Promise<void> {
  if (!atLeast(list.cniVersion, '1.1.0')) return
  for (const plugin of list.plugins) {
    try {
      await exec('STATUS', plugin, { ...plugin, name: list.name, cniVersion: list.cniVersion }, undefined, env)
    } catch (e) {
      throw failed(plugin, 'status', e)
    }
  }
}
