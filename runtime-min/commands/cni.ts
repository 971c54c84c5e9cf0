// `berth cni add|check|del|gc|status`: cnitool's commands over runtime-min/libcni, with berth's paths
// (config dir from --cni-conf-dir or $BERTH_ROOT/etc/cni/net.d, cache $BERTH_ROOT/var/lib/cni, CNI_PATH
// from the env or berth's bin/ then /opt/cni/bin). The container ID is cnitool's, derived from the
// namespace path, so `berth cni del` undoes a `cnitool add` of the same namespace and vice versa.
//
// gc: the valid attachments are those berth still knows: cached attachments of the network whose
// container is a berth container (its state under run/berth/containers), or whose network namespace
// path still exists (cni add's attachments: the namespace is their container). Everything else cached
// for the network gets DEL, then each plugin gets GC with that list (spec 1.1.0+).
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { compareVersions } from '../../pkg/cni/spec.js'
import { validateIfName } from '../../pkg/cni/validate.js'
import { describe } from '../../pkg/errors/describe.js'
import { CliError } from '../cli-error.js'
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  listCachedAttachments,
  loadNetworkList,
  networkListFromBytes,
  NetworkNotFoundError,
  readCache,
  statusNetworkList,
  type CniEnv,
  type GcAttachment,
  type NetworkList,
  type RuntimeConf,
} from '../libcni/index.js'
import { cniCacheDir, cniConfDir, cniPath, containersDir } from '../paths.js'
import { cnitoolContainerId, resolveAttachOptions } from './cni-args.js'
import { knownContainers } from './known-containers.js'

export interface CniCommonArgs {
  net: string
  'cni-conf-dir'?: string | undefined
}
export interface CniAttachArgs extends CniCommonArgs {
  netns: string
  /** default: $CNI_IFNAME, else eth0 */
  ifname?: string | undefined
  /** default: $CNI_ARGS */
  args?: string | undefined
  /** on top of $CAP_ARGS */
  cap?: string[] | undefined
}

export function cniEnv(): CniEnv {
  return { cniPath: cniPath(), cacheDir: cniCacheDir() }
}

const confDir = (a: CniCommonArgs) => (a['cni-conf-dir'] !== undefined ? resolve(a['cni-conf-dir']) : cniConfDir())

function runtimeConf(a: CniAttachArgs): RuntimeConf {
  const o = resolveAttachOptions(a, process.env)
  try {
    validateIfName(o.ifName)
  } catch (e) {
    throw new CliError(`invalid --ifname ${JSON.stringify(o.ifName)}: ${describe(e).replace(/^invalid CNI_IFNAME "[^"]*": /, '')}`, 'use at most 15 characters without "/", ":" or spaces, e.g. eth1')
  }
  const netns = resolve(a.netns)
  return { containerId: cnitoolContainerId(netns), netns, ...o }
}

export async function cniAdd(a: CniAttachArgs): Promise<string> {
  const rt = runtimeConf(a)
  const list = loadNetworkList(confDir(a), a.net)
  requireNetns(rt.netns)
  const result = await addNetworkList(list, rt, cniEnv())
  // cnitool prints with types.PrintResult: four-space indentation
  return `${JSON.stringify(result, null, 4)}\n`
}

export async function cniCheck(a: CniAttachArgs): Promise<void> {
  const rt = runtimeConf(a)
  await checkNetworkList(loadNetworkList(confDir(a), a.net), rt, cniEnv())
}

/** DEL works with the namespace gone, and with the conflist gone when the cache recorded it. */
export async function cniDel(a: CniAttachArgs): Promise<void> {
  const rt = runtimeConf(a)
  const env = cniEnv()
  await delNetworkList(listForDel(confDir(a), a.net, rt, env), rt, env)
}

function listForDel(dir: string, net: string, rt: RuntimeConf, env: CniEnv): NetworkList {
  try {
    return loadNetworkList(dir, net)
  } catch (e) {
    if (!(e instanceof NetworkNotFoundError)) throw e
    const cached = readCache(env.cacheDir, net, rt.containerId, rt.ifName)
    if (cached.state === 'ok' && cached.entry.config.length > 0) return networkListFromBytes(cached.entry.config, `cached config of ${net}`)
    throw e
  }
}

function requireNetns(path: string): void {
  let ok = false
  try {
    ok = statSync(path).isFile()
  } catch {
    // missing
  }
  if (!ok) throw new CliError(`network namespace ${path} does not exist`, "create one first, e.g. 'ip netns add NAME' and pass /run/netns/NAME")
}

/** The attachments `cni gc` keeps (see the header). */
export function validAttachments(net: string, env: CniEnv): GcAttachment[] {
  const ids = new Set(knownContainers(containersDir()).map((c) => c.id).filter((id) => id !== ''))
  return listCachedAttachments(env.cacheDir, { network: net })
    .filter((c) => ids.has(c.containerId) || (c.netns !== '' && existsSync(c.netns)))
    .map((c) => ({ containerID: c.containerId, ifname: c.ifName }))
}

export async function cniGc(a: CniCommonArgs): Promise<GcAttachment[]> {
  const env = cniEnv()
  const list = loadNetworkList(confDir(a), a.net)
  return gcNetworkList(list, validAttachments(list.name, env), env)
}

export async function cniStatus(a: CniCommonArgs): Promise<void> {
  const list = loadNetworkList(confDir(a), a.net)
  // libcni skips STATUS below 1.1.0 and reports success; say so rather than look like a check passed
  if (compareVersions(list.cniVersion, '1.1.0') < 0) {
    process.stderr.write(`berth: note: network ${list.name} has cniVersion ${list.cniVersion}; STATUS needs 1.1.0, so nothing was asked\n`)
    return
  }
  await statusNetworkList(list, cniEnv())
}
