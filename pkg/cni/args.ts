// CNI_ARGS: "K=V;K2=V2", read as cni's types.LoadArgs reads it. Every pair needs exactly one '='
// ("K=" is an empty value; "A=1;" is an error, its empty last pair included). A later duplicate wins.
// Unknown keys are an error unless IgnoreUnknown is true: checkCniArgs does that part, given the keys
// the plugin knows.
import { CniCode, CniError } from '../errors/cni-error.js'

export const IGNORE_UNKNOWN = 'IgnoreUnknown'

/** Parses CNI_ARGS. Empty or undefined → empty map. CniError 4 naming CNI_ARGS and the bad pair. */
export function parseCniArgs(s: string | undefined): Map<string, string> {
  const args = new Map<string, string>()
  if (s === undefined || s === '') return args
  for (const pair of s.split(';')) {
    const kv = pair.split('=')
    if (kv.length !== 2) {
      throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: invalid pair ${JSON.stringify(pair)} (expected KEY=VALUE)`)
    }
    args.set(kv[0] ?? '', kv[1] ?? '')
  }
  return args
}

/**
 * cni's UnmarshallableBool: "1"/"true" and "0"/"false", any case. CniError 4 naming CNI_ARGS, the key and
 * the value otherwise.
 */
export function argBool(args: ReadonlyMap<string, string>, key: string): boolean | undefined {
  const v = args.get(key)
  if (v === undefined) return undefined
  switch (v.toLowerCase()) {
    case '1':
    case 'true':
      return true
    case '0':
    case 'false':
      return false
    default:
      throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: error parsing value of pair ${JSON.stringify(`${key}=${v}`)}: expected true, false, 1 or 0`)
  }
}

/**
 * Refuses keys the plugin does not know (IgnoreUnknown is always known), unless IgnoreUnknown is true.
 * CniError 4 listing the unknown pairs, as cni's LoadArgs does.
 */
export function checkCniArgs(args: ReadonlyMap<string, string>, known: Iterable<string>): void {
  const ignore = argBool(args, IGNORE_UNKNOWN) ?? false
  if (ignore) return
  const knownSet = new Set(known)
  knownSet.add(IGNORE_UNKNOWN)
  const unknown = [...args].filter(([k]) => !knownSet.has(k)).map(([k, v]) => `${k}=${v}`)
  if (unknown.length > 0) {
    throw new CniError(CniCode.InvalidEnv, `invalid CNI_ARGS: unknown args ${unknown.map((p) => JSON.stringify(p)).join(', ')} (set IgnoreUnknown=1 to allow them)`)
  }
}
