// The container's persistent namespaces: the network namespace (a bind mount at the contract's netns
// path, made by pkg/ns like `ip netns add`) and the UTS namespace (a bind mount in the state directory),
// both created BEFORE the command starts so CNI can attach the network and the hostname is set when
// the command first looks. IPC, PID and mount namespaces are made by `unshare` when the command starts
// (launch.ts): they live exactly as long as the container's processes.
//
// The hostname: util-linux `unshare` cannot set one and Node cannot call sethostname(2), so the UTS
// namespace is made persistent with `unshare --uts=FILE hostname NAME` (the hostname tool runs inside
// the new namespace), and the container later enters it with `nsenter --uts=FILE`.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { openRtnl } from '../../pkg/link/rtnl.js'
import { setLinkUp } from '../../pkg/link/link.js'
import { createNetns, deleteNetns, NetnsHandle } from '../../pkg/ns/netns.js'
import { CliError } from '../cli-error.js'
import { hostTool } from './tools.js'

/** RFC 1123 host name (labels of letters, digits and '-'), at most 64 bytes (HOST_NAME_MAX). */
export function validateHostname(h: string): string {
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
  if (h.length > 64 || !h.split('.').every((l) => label.test(l))) {
    throw new CliError(`invalid hostname "${h}"`, "use letters, digits, '-' and '.', at most 64 characters")
  }
  return h
}

/** Creates the network namespace at `path` with its loopback up (every container has a working lo). */
export async function createContainerNetns(path: string): Promise<void> {
  createNetns(path)
  const ns = NetnsHandle.open(path)
  const rt = openRtnl(ns)
  try {
    await setLinkUp(rt, 'lo')
  } finally {
    rt.close()
    ns.close()
  }
}

/** Removes a persisted namespace file (network or UTS); a missing one is fine. */
export function removeNamespaceFile(path: string): void {
  deleteNetns(path)
}

/** Creates a UTS namespace bound at `path` with `hostname` set inside. */
export function createUtsNamespace(path: string, hostname: string): void {
  writeFileSync(path, '', { flag: 'wx', mode: 0o444 })
  try {
    execFileSync(hostTool('unshare'), [`--uts=${path}`, hostTool('hostname'), hostname], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
  } catch (e) {
    removeNamespaceFile(path)
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim()
    throw new CliError(`cannot create the UTS namespace with hostname ${hostname}: ${stderr || String(e)}`, 'check that util-linux unshare and hostname are installed')
  }
}
