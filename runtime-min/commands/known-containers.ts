// What berth's containers use, read leniently from their state files
// (${BERTH_ROOT}/run/berth/containers/<name>/state.json): `net rm` and `cni gc` only need each container's
// CNI container ID and the networks it is on, and must not fail because one state file is odd.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface KnownContainer {
  name: string
  /** the container ID used for CNI ("" when the state file does not say) */
  id: string
  networks: string[]
}

export function knownContainers(containersDir: string): KnownContainer[] {
  let names: string[]
  try {
    names = readdirSync(containersDir)
  } catch {
    return []
  }
  const out: KnownContainer[] = []
  for (const name of names.sort()) {
    let doc: unknown
    try {
      doc = JSON.parse(readFileSync(join(containersDir, name, 'state.json'), 'utf8'))
    } catch {
      // a container being created (no state yet) or a damaged file: it still holds its name
      out.push({ name, id: '', networks: [] })
      continue
    }
    const s = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>
    const nets = new Set<string>()
    if (Array.isArray(s['networks'])) for (const n of s['networks']) if (typeof n === 'string') nets.add(n)
    if (Array.isArray(s['attachments'])) {
      for (const a of s['attachments']) {
        const n = (a as Record<string, unknown> | null)?.['network']
        if (typeof n === 'string') nets.add(n)
      }
    }
    out.push({ name, id: typeof s['id'] === 'string' ? s['id'] : '', networks: [...nets] })
  }
  return out
}
