// The attachment identifiers' syntax, as cni's pkg/utils checks them (ValidateContainerID,
// ValidateInterfaceName, ValidateNetworkName).
import { CniCode, CniError } from '../errors/cni-error.js'

// cni's cniValidNameChars + "*": one alphanumeric, then alphanumerics, '_', '.', '-'. No length limit,
// in cni or in the spec.
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
const NAME_RULE = "must start with an alphanumeric character, followed by alphanumerics, '_', '.' or '-'"

/** IFNAMSIZ - 1: the kernel needs room for the terminating NUL. */
export const MAX_IFNAME_BYTES = 15

// Go's unicode.IsSpace, which is not JS's \s (that has U+FEFF but lacks U+0085).
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/

/**
 * CNI_CONTAINERID: non-empty, cni's name characters. CniError 4 naming the variable. (cni's utils returns
 * code 3 for an empty ID; skel never gets there because an empty variable is "missing", which is 4.)
 */
export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(CniCode.InvalidEnv, 'invalid CNI_CONTAINERID: missing containerID')
  if (!VALID_NAME.test(id)) {
    throw new CniError(CniCode.InvalidEnv, `invalid CNI_CONTAINERID ${JSON.stringify(id)}: invalid characters in containerID`, `containerID ${NAME_RULE}`)
  }
}

/**
 * CNI_IFNAME, the kernel's dev_valid_name as cni words it: non-empty, at most 15 bytes, not "." or "..",
 * no '/', ':' or whitespace; and no '%' (a name pattern to the kernel). CniError 4 naming the variable.
 */
export function validateIfName(name: string): void {
  const bad = (why: string, details?: string) =>
    new CniError(CniCode.InvalidEnv, `invalid CNI_IFNAME ${JSON.stringify(name)}: ${why}`, details)
  if (name === '') throw bad('interface name is empty')
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes > MAX_IFNAME_BYTES) {
    throw bad(`interface name is too long (${bytes} bytes)`, `interface name should be less than ${MAX_IFNAME_BYTES + 1} characters`)
  }
  if (name === '.' || name === '..') throw bad('interface name is . or ..')
  if (name.includes('/') || name.includes(':') || GO_SPACE.test(name)) {
    throw bad('interface name contains / or : or whitespace characters')
  }
  // The kernel takes "%d" in a new link's name as a pattern and picks a free number: the link would get
  // another name than CNI_IFNAME, and the plugin would look for one that does not exist.
  if (name.includes('%')) throw bad('interface name contains %, which the kernel reads as a pattern (eth%d)')
}

/** A network name (config "name"): required, cni's name characters. CniError 7. */
export function validateNetworkName(name: string): void {
  if (name === '') throw new CniError(CniCode.InvalidConfig, 'invalid network configuration: missing network name')
  if (!VALID_NAME.test(name)) {
    throw new CniError(CniCode.InvalidConfig, `invalid network configuration: invalid characters found in network name ${JSON.stringify(name)}`, `name ${NAME_RULE}`)
  }
}
