// JSON as Go's encoding/json writes a map[string]interface{}: object keys sorted (byte order), no
// spaces. libcni marshals cached results and capability args through such maps, so this reproduces its
// bytes (apart from Go's \u003c-style escaping of <, > and &, which readers decode to the same text).
export function goJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort(byteOrder)) {
      const v = (value as Record<string, unknown>)[k]
      if (v !== undefined) out[k] = sortKeys(v)
    }
    return out
  }
  return value
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
