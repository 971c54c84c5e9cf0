// CNI spec versions: which ones berth speaks, how they compare, and the VERSION command's answer.
// Rules follow containernetworking/cni pkg/version (ParseVersion, GreaterThanOrEqualTo, Reconciler).
import { CniCode, CniError } from '../errors/cni-error.js'

/** Oldest first. 0.1.0/0.2.0 (the ip4/ip6 result format) are not supported. */
export const SUPPORTED_VERSIONS: readonly string[] = Object.freeze(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])
export const CURRENT_VERSION = '1.1.0'

/** The oldest config version that allows each command (cni pkg/skel: CHECK >= 0.4.0, GC/STATUS >= 1.1.0). */
export const COMMAND_MIN_VERSION: Readonly<Record<string, string>> = Object.freeze({
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
})

/**
 * Parses "x", "x.y" or "x.y.z" into three numbers; missing parts are 0, and "" means 0.1.0 (the spec's
 * "no version declared"). Like cni's ParseVersion, except that a sign ("+1", "-1") is refused.
 * Malformed → CniError 6: cni's skel reports version parse failures as ErrDecodingFailure.
 */
export function parseVersion(version: string): [number, number, number] {
  if (version === '') return [0, 1, 0]
  const parts = version.split('.')
  if (parts.length > 3) throw badVersion(version, 'too many parts')
  const nums: [number, number, number] = [0, 0, 0]
  for (const [i, part] of parts.entries()) {
    if (!/^\d+$/.test(part) || !Number.isSafeInteger(Number(part))) {
      throw badVersion(version, `part ${JSON.stringify(part)} is not a number`)
    }
    nums[i] = Number(part)
  }
  return nums
}

function badVersion(version: string, why: string): CniError {
  return new CniError(CniCode.DecodingFailure, `invalid CNI version ${JSON.stringify(version)}: ${why}`)
}

/** Negative, zero or positive as a is older than, equal to or newer than b. Throws CniError 6 on malformed input. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a)
  const y = parseVersion(b)
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

/** cni's GreaterThanOrEqualTo(v, min). */
export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0
}

/**
 * The config's version must be one the plugin lists, compared as exact strings (cni's Reconciler: "1.1" is
 * not "1.1.0"). CniError 1 otherwise; details in cni's words. `subject` names what carries the version;
 * "" stands for "no cniVersion".
 */
export function checkSupported(version: string, supported: readonly string[] = SUPPORTED_VERSIONS, subject = 'config'): void {
  if (supported.includes(version)) return
  // An absent cniVersion is the spec's 0.1.0, which nobody here speaks; say so rather than print "".
  const is = version === '' ? 'has no cniVersion (that means 0.1.0)' : `is ${JSON.stringify(version)}`
  throw new CniError(
    CniCode.IncompatibleVersion,
    `incompatible CNI versions: ${subject} ${is}, plugin supports ${supported.join(', ')}`,
    `${subject} is ${JSON.stringify(version || '0.1.0')}, plugin supports [${supported.map((v) => JSON.stringify(v)).join(' ')}]`,
  )
}

/**
 * Whether a config version allows a command (cni skel: "config version does not allow CHECK"), CniError 1
 * if not, 6 if the version is malformed. Commands without a minimum (ADD, DEL, VERSION) always pass.
 */
export function checkCommandVersion(command: string, version: string): void {
  const min = COMMAND_MIN_VERSION[command]
  if (min === undefined || versionAtLeast(version, min)) return
  throw new CniError(
    CniCode.IncompatibleVersion,
    `config version ${JSON.stringify(version)} does not allow ${command} (needs ${min} or later)`,
  )
}

/**
 * The VERSION command's output. cniVersion is the version this library implements, as cni's
 * PluginSupports does (skel gives VERSION no stdin), not the caller's version.
 */
export function versionInfo(supported: readonly string[] = SUPPORTED_VERSIONS): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...supported] }
}
