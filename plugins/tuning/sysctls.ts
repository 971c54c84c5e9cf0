// Sysctls in the container's namespace, with errors that name the key and say whose fault it is.
import { CniCode, CniError } from '../../pkg/errors/cni-error.js'
import { errorCode } from '../../pkg/errors/sys-error.js'
import type { NetnsHandle } from '../../pkg/ns/netns.js'
import { readSysctl, writeSysctl } from '../../pkg/sysctl/sysctl.js'

function wrap(e: unknown, verb: string, key: string): unknown {
  if (e instanceof CniError) return e
  const code = errorCode(e)
  // A key that does not exist in the namespace is a configuration error, like a malformed one.
  if (code === 'ENOENT') return new CniError(CniCode.InvalidConfig, `invalid sysctl key "${key}": no such sysctl in the container's network namespace`)
  if (code === 'EINVAL' || code === 'ERANGE') return new CniError(CniCode.InvalidConfig, `failed to ${verb} sysctl "${key}": the kernel refused the value (${code})`)
  return new CniError(CniCode.KernelFailure, `failed to ${verb} sysctl "${key}": ${code ?? String(e)}`, undefined, { cause: e })
}

export function getSysctl(ns: NetnsHandle, key: string): string {
  try {
    return readSysctl(key, ns)
  } catch (e) {
    throw wrap(e, 'read', key)
  }
}

export function setSysctl(ns: NetnsHandle, key: string, value: string): void {
  try {
    writeSysctl(key, value, ns)
  } catch (e) {
    throw wrap(e, 'write', key)
  }
}

/** Sysctl files print some values with tabs ("4096\t131072\t6291456"); compare them word by word. */
export function sameSysctlValue(a: string, b: string): boolean {
  return a.trim().split(/\s+/).join(' ') === b.trim().split(/\s+/).join(' ')
}
