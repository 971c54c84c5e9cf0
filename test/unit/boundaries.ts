// The import table (model-codebases §7.2), checked mechanically: who may import whom, which file is
// the only door to each risky dependency, and who may write to stdout.
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { REPO_ROOT } from '../helpers/paths.js'

const SOURCE_DIRS = ['pkg', 'native', 'plugins', 'ipam', 'runtime-min', 'daemon']

function files(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f)
      if (f === 'node_modules' || f === 'build') continue
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts')) out.push(p)
    }
  }
  try {
    walk(join(REPO_ROOT, dir))
  } catch {
    // directory not there yet
  }
  return out
}

/** The module a repository path belongs to: pkg/<x>, plugins/<x>, plugins/host/<x>, ipam/<x>, native, runtime-min, test. */
function moduleOf(rel: string): string {
  const parts = rel.split('/')
  // host-attached types sit one level down, each a module of its own
  if (parts[0] === 'plugins' && parts[1] === 'host' && parts.length > 3) return `plugins/host/${parts[2]}`
  if (parts[0] === 'pkg' || parts[0] === 'plugins' || parts[0] === 'ipam') return `${parts[0]}/${parts[1]}`
  return parts[0] ?? rel
}

const IO_FREE = ['pkg/errors', 'pkg/cni', 'pkg/ip', 'pkg/build-info']
// module -> modules it may import (its own module is always allowed)
const ALLOWED: Record<string, string[]> = {
  'pkg/errors': [],
  'pkg/cni': ['pkg/errors'],
  'pkg/ip': ['pkg/errors'],
  'pkg/log': ['pkg/errors'],
  'pkg/rollback': ['pkg/errors', 'pkg/log'],
  native: ['pkg/errors'],
  'pkg/ns': ['native', 'pkg/errors', 'pkg/log'],
  'pkg/sysctl': ['native', 'pkg/ns', 'pkg/errors', 'pkg/log'],
  'pkg/lock': ['native', 'pkg/errors', 'pkg/log', 'pkg/fsutil'],
  'pkg/fsutil': ['pkg/errors', 'pkg/log'],
  'pkg/link': ['pkg/ns', 'pkg/ip', 'pkg/errors', 'pkg/log'],
  'pkg/firewall': ['native', 'pkg/ns', 'pkg/ip', 'pkg/errors', 'pkg/log'],
  // what scripts/build.mjs compiles in (version, build identity): no imports, no I/O
  'pkg/build-info': [],
  'pkg/invoke': ['pkg/cni', 'pkg/errors', 'pkg/log', 'pkg/build-info', 'pkg/skel'],
  'pkg/skel': ['pkg/cni', 'pkg/errors', 'pkg/log'],
  // IPAM as the interface plugins use it: the delegate (host-local in-process), its lease on a link, CHECK
  'pkg/ipam': ['pkg/cni', 'pkg/errors', 'pkg/ip', 'pkg/link', 'pkg/log', 'pkg/ns', 'pkg/sysctl', 'pkg/invoke', 'pkg/skel', 'pkg/host-local'],
  // the overlay's control and data plane, shared by the overlay-vxlan plugin and `berth overlay`
  'pkg/overlay': ['native', 'pkg/ns', 'pkg/ip', 'pkg/errors', 'pkg/log', 'pkg/link', 'pkg/firewall', 'pkg/lock', 'pkg/fsutil', 'pkg/sysctl', 'pkg/rollback', 'pkg/cni'],
  // host-local's core: the ipam/host-local executable and the bridge (in-process) run it
  // which host ports containers publish: portmap's reservation records, read by runtimes
  'pkg/port-reservations': ['pkg/errors', 'pkg/ns'],
  'pkg/host-local': ['pkg/skel', 'pkg/cni', 'pkg/ip', 'pkg/errors', 'pkg/log', 'pkg/lock', 'pkg/fsutil'],
  'runtime-min': ['pkg/*', 'daemon'],
  // the resident process behind the shims: every type's public description (plugin.ts), never its internals
  daemon: ['native', 'pkg/*'],
}
const PLUGIN_ALLOWED = ['pkg/*']
const IPAM_ALLOWED = ['pkg/host-local', 'pkg/skel', 'pkg/cni', 'pkg/ip', 'pkg/errors', 'pkg/log', 'pkg/rollback', 'pkg/lock', 'pkg/fsutil']

// package -> the only files allowed to import it
const DOORS: Record<string, (rel: string) => boolean> = {
  netlink: (rel) => rel === 'pkg/link/rtnl.ts',
  'ip-address': (rel) => rel === 'pkg/ip/cidr.ts',
  yargs: (rel) => rel === 'runtime-min/cli.ts',
  // the etcd client (gRPC, protobuf) loads only when an etcd store is used, through this one file
  etcd3: (rel) => rel === 'pkg/overlay/etcd-client.ts',
  cockatiel: (rel) => rel === 'pkg/overlay/etcd-client.ts',
  // full zod costs ~30 ms per plugin start; zod/mini is what plugins may load
  zod: () => false,
}

function allowedFor(mod: string): string[] {
  if (mod.startsWith('plugins/')) return PLUGIN_ALLOWED
  if (mod.startsWith('ipam/')) return IPAM_ALLOWED
  return ALLOWED[mod] ?? []
}

function permitted(from: string, to: string): boolean {
  if (from === to) return true
  return allowedFor(from).some((a) => a === to || (a === 'pkg/*' && to.startsWith('pkg/')))
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm

const violations: string[] = []
const all = SOURCE_DIRS.flatMap(files)
for (const file of all) {
  const rel = relative(REPO_ROOT, file)
  const mod = moduleOf(rel)
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? ''
    if (spec.startsWith('.')) {
      const target = relative(REPO_ROOT, resolve(dirname(file), spec))
      const tmod = moduleOf(target)
      if (tmod === 'test') violations.push(`${rel} → ${target} (sources never import tests)`)
      else if (mod === 'daemon' && /^plugins\/(host\/)?[^/]+\/plugin\.js$/.test(target)) continue
      else if (!permitted(mod, tmod)) violations.push(`${rel} → ${target} (${mod} may not import ${tmod})`)
    } else if (spec.startsWith('node:')) {
      if (IO_FREE.includes(mod) && spec !== 'node:os') violations.push(`${rel} → ${spec} (${mod} does no I/O)`)
      if (spec === 'node:child_process' && (mod === 'pkg/link' || mod === 'pkg/skel')) violations.push(`${rel} → ${spec}`)
    } else {
      const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec)
      const door = DOORS[spec] ?? DOORS[pkgName]
      if (spec === 'zod/mini') {
        // pkg/overlay: the overlay network's schema, read by both the plugin and the agent (runtime-min);
        // pkg/host-local: host-local's ipam schema, read by the executable and in-process by the bridge
        if (!(mod === 'pkg/cni' || mod === 'pkg/overlay' || mod === 'pkg/host-local' || mod.startsWith('plugins/') || mod.startsWith('ipam/') || mod === 'runtime-min')) {
          violations.push(`${rel} → zod/mini (config schemas live in pkg/cni and plugin config.ts)`)
        }
      } else if (door !== undefined && !door(rel)) violations.push(`${rel} → ${spec} (only its door file may import it)`)
    }
  }
  // stdout belongs to the skeleton and the CLI
  const writesStdout = /process\.stdout\.write|console\.log\(/.test(text)
  if (writesStdout && !(rel.startsWith('pkg/skel/') || rel.startsWith('runtime-min/'))) {
    violations.push(`${rel} writes to stdout (only pkg/skel and runtime-min may)`)
  }
}

t.ok(all.length > 0, 'found source files')
t.same(violations, [], 'no import-table violations')

t.test('the checker catches violations', async (t) => {
  t.notOk(permitted('plugins/bridge', 'plugins/loopback'), 'plugin → plugin')
  t.equal(moduleOf('plugins/host/macvlan/add.ts'), 'plugins/host/macvlan', 'a host-attached type is a module of its own')
  t.notOk(permitted(moduleOf('plugins/host/macvlan/add.ts'), moduleOf('plugins/host/other/x.ts')), 'host plugin → host plugin')
  t.notOk(permitted('plugins/bridge', 'ipam/host-local'), 'plugin → ipam')
  t.notOk(permitted('plugins/bridge', 'native'), 'plugin → native')
  t.notOk(permitted('pkg/errors', 'pkg/log'), 'ground floor')
  t.ok(permitted('plugins/bridge', 'pkg/link'))
  t.notOk(DOORS['netlink']?.('plugins/bridge/add.ts'))
  t.notOk(permitted('daemon', 'plugins/bridge'), "daemon → a plugin's internals")
})
