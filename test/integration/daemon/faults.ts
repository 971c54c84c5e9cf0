// The daemon's fault test: kill -9 of `berth daemon` at random points of bridge (host-local, ipMasq) +
// portmap ADDs made through the shims as libcni makes them, then DEL through the shims (the daemon
// restarted, or left dead so the shims run standalone), must leave no veth, reservation, temporary file,
// NAT or portmap element, record or held lock; an attachment made before the trials stays intact.
// Each trial measures where the kill fell (before the request, during the bridge ADD, between the two,
// during the portmap ADD, after) and compares the host with a snapshot taken before the trials. A second
// test kills the daemon while calls wait for a slot: every shim must answer at once.
//
// BERTH_FAULT_TRIALS  number of trials (default 20, a second or two each on an idle machine; 200 before a
//                     change to the daemon, the shim or the state files of bridge, portmap or host-local)
// BERTH_FAULT_SEED    seed of the trials' plan (when, how, which DEL); printed, so a plan can be rerun
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { control } from '../../../daemon/server.js'
import { startDaemon, type TestDaemon } from '../../helpers/daemon.js'
import { createTestNetns, type TestNetns } from '../../helpers/netns.js'
import { containerId, uniqueName } from '../../helpers/names.js'
import { BIN_DIR } from '../../helpers/paths.js'
import { needsBuiltBin, needsRoot } from '../../helpers/privileges.js'
import { heldLocks, residue, snapshotHost, type HostSnapshot } from '../../helpers/residue.js'
import { spawnPlugin, type SpawnedRun } from '../../helpers/run-plugin.js'

const skip = needsRoot() || needsBuiltBin('berth', BIN_DIR) || needsBuiltBin('bridge', BIN_DIR) || needsBuiltBin('portmap', BIN_DIR)
const TRIALS = Math.max(1, Number(process.env['BERTH_FAULT_TRIALS'] ?? '') || 20)
const SEED = Number(process.env['BERTH_FAULT_SEED'] ?? '') || Math.floor(Math.random() * 2 ** 31)
const V = '1.1.0'
// A shim that has not answered by then hangs: far above any ADD or DEL on a loaded 2-core machine.
const CALL_TIMEOUT_MS = 30_000
// Per trial: a restart, up to four plugin processes and the checks; seconds each on a loaded 2-core machine.
t.setTimeout(Math.max(180_000, 60_000 + TRIALS * 15_000))

/** mulberry32: a small seeded generator, so a plan is reproducible from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Chain {
  bridge: SpawnedRun
  portmap?: SpawnedRun
  /** the list's result (what libcni caches) when both ADDs succeeded */
  result?: Record<string, unknown>
}

type Mapping = { hostPort: number; containerPort: number; protocol: string }

/** A throw-away host namespace with a daemon of its own, a bridge network and a portmap chain on it. */
async function faultHost(t: Test, subnet: string, daemonArgs: string[] = []) {
  const host = await createTestNetns(t)
  host.exec('ip', ['link', 'set', 'lo', 'up'])
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-test-faults-'))
  const sockDir = mkdtempSync(join(tmpdir(), 'berth-test-faults-sock-'))
  t.teardown(() => {
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(sockDir, { recursive: true, force: true })
  })
  const socket = join(sockDir, 'berthd.sock')
  const net = uniqueName('flt')
  const brConf = { cniVersion: V, name: net, type: 'bridge', bridge: uniqueName('br'), isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] } }
  const pmConf = (mappings: Mapping[]) => ({ cniVersion: V, name: net, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: mappings } })
  let daemon: TestDaemon = await startDaemon(t, { netns: host.path, socket, args: daemonArgs })
  const shim = (type: string, command: string, id: string, netns: string, conf: object) =>
    spawnPlugin(type, { command, containerId: id, netns, ifName: 'eth0', stdin: conf, hostNetns: host.path, extraEnv: { BERTH_SOCKET: socket } }, CALL_TIMEOUT_MS)
  const h = {
    host,
    dataDir,
    socket,
    get daemon() {
      return daemon
    },
    async ensureDaemon() {
      if (daemon.dead) daemon = await startDaemon(t, { netns: host.path, socket, args: daemonArgs })
    },
    /** bridge ADD, then portmap ADD with bridge's result as prevResult (libcni's AddNetworkList) */
    async add(id: string, netns: string, mappings: Mapping[]): Promise<Chain> {
      const bridge = await shim('bridge', 'ADD', id, netns, brConf)
      if (bridge.status !== 0 || bridge.json === undefined) return { bridge }
      const portmap = await shim('portmap', 'ADD', id, netns, { ...pmConf(mappings), prevResult: bridge.json })
      return { bridge, portmap, ...(portmap.status === 0 && portmap.json !== undefined ? { result: portmap.json } : {}) }
    },
    /** DEL in reverse order, each with the list's cached result when there is one (libcni's DelNetworkList) */
    async del(id: string, netns: string, mappings: Mapping[], prev: Record<string, unknown> | undefined): Promise<SpawnedRun[]> {
      const withPrev = (c: object) => (prev === undefined ? c : { ...c, prevResult: prev })
      const portmap = await shim('portmap', 'DEL', id, netns, withPrev(pmConf(mappings)))
      const bridge = await shim('bridge', 'DEL', id, netns, withPrev(brConf))
      return [portmap, bridge]
    },
    snapshot: () => snapshotHost(host, dataDir),
    /** what differs from `base`, and held locks */
    async residue(base: HostSnapshot): Promise<string[]> {
      let left = residue(base, snapshotHost(host, dataDir))
      // A destroyed namespace's veth pair goes asynchronously (the kernel's netns cleanup): only that is waited for.
      for (const end = performance.now() + 5000; left.some((l) => l.startsWith('left veth ')) && performance.now() < end; ) {
        await sleep(100)
        left = residue(base, snapshotHost(host, dataDir))
      }
      return [...left, ...heldLocks(host, dataDir).map((l) => `held lock ${l}`)]
    },
  }
  return h
}
type FaultHost = Awaited<ReturnType<typeof faultHost>>

/** Why an ADD's answer is not a proper one (success with a result, or CNI code 11), or undefined. */
function improperAdd(r: SpawnedRun): string | undefined {
  const out = `status ${String(r.status)} signal ${String(r.signal)} stdout ${r.stdout.trim()} stderr ${r.stderr.trim()}`
  if (r.timedOut) return `no answer within ${CALL_TIMEOUT_MS} ms: ${out}`
  if (/^\s+at .+:\d+:\d+\)?$/m.test(r.stdout + r.stderr)) return `a stack trace: ${out}`
  if (r.status === 0) return r.json?.['cniVersion'] === V && Array.isArray(r.json['ips']) ? undefined : `success without a result: ${out}`
  return r.status === 1 && r.json?.['code'] === 11 && typeof r.json['msg'] === 'string' ? undefined : `neither success nor code 11: ${out}`
}

/** An attachment made before the faults: it must come through them untouched. */
async function baseAttachment(t: Test, h: FaultHost, port: number) {
  const ns = await createTestNetns(t)
  ns.exec('ip', ['link', 'set', 'lo', 'up'])
  const id = containerId()
  const add = await h.add(id, ns.path, [{ hostPort: port, containerPort: 80, protocol: 'tcp' }])
  if (add.result === undefined) throw new Error(`base attachment: ${add.bridge.stdout}${add.bridge.stderr}${add.portmap?.stdout ?? ''}${add.portmap?.stderr ?? ''}`)
  const ip = ((add.result['ips'] as { address: string }[])[0]?.address ?? '').split('/')[0] ?? ''
  return { ns, id, ip }
}

const pingable = (host: TestNetns, ip: string) => {
  try {
    host.exec('ping', ['-c', '1', '-W', '2', ip])
    return true
  } catch {
    return false
  }
}

t.test(`kill -9 of the daemon at random points of ${TRIALS} bridge + portmap ADDs, DEL through the shims`, { skip }, async (t) => {
  t.comment(`seed ${SEED} (BERTH_FAULT_SEED to replay the plan)`)
  const rand = rng(SEED)
  const h = await faultHost(t, '10.241.0.0/24')
  const base = await baseAttachment(t, h, 18000)

  // How long a chain ADD takes as the trials meet the daemon: just started (after a standalone DEL), or
  // started for the previous DEL and partly loaded. The kills spread over the longest of the last few
  // whole ADDs of that kind; the trials' own uncut ADDs keep the figures current as the machine's load moves.
  type Kind = 'just started' | 'after serving a DEL'
  const whole: Record<Kind, number[]> = { 'just started': [], 'after serving a DEL': [] }
  const spread = (k: Kind) => Math.max(...whole[k].slice(-4))
  const chainMs = (c: Chain) => (c.portmap ?? c.bridge).ended - c.bridge.started
  let last: { id: string; ns: TestNetns; mappings: Mapping[]; result: Record<string, unknown> | undefined } | undefined
  const delLast = async () => {
    if (last === undefined) return
    const dels = await h.del(last.id, last.ns.path, last.mappings, last.result)
    t.ok(
      dels.every((d) => d.status === 0),
      'calibration DEL',
    )
    last.ns.destroy()
    last = undefined
  }
  for (let i = 0; i < 4; i++) {
    const kind: Kind = i % 2 === 0 ? 'just started' : 'after serving a DEL'
    await h.daemon.stop()
    if (kind === 'just started') await delLast()
    await h.ensureDaemon()
    await delLast()
    const ns = await createTestNetns(t)
    const id = containerId()
    const mappings = [{ hostPort: 18001, containerPort: 80, protocol: 'tcp' }]
    const add = await h.add(id, ns.path, mappings)
    t.ok(add.result !== undefined, `calibration ADD ${i}: ${add.bridge.stdout}${add.portmap?.stdout ?? ''}`)
    whole[kind].push(chainMs(add))
    last = { id, ns, mappings, result: add.result }
  }
  await delLast()
  t.comment(`chain ADD on a daemon just started: ${whole['just started'].map((s) => s.toFixed(0)).join(', ')} ms; after serving a DEL: ${whole['after serving a DEL'].map((s) => s.toFixed(0)).join(', ')} ms`)
  const start = h.snapshot()
  // After a trial that left something, the next ones are compared with the host as it then is.
  let baseline = start
  t.ok(baseline.veths.length === 1, `the base attachment's veth is the host's only one: ${baseline.veths.join(', ')}`)

  const tally: Record<string, number> = {}
  const count = (k: string) => (tally[k] = (tally[k] ?? 0) + 1)
  const dirty: string[] = []
  for (let i = 0; i < TRIALS; i++) {
    const r = rand()
    const when = r < 0.1 ? 'before' : r < 0.2 ? 'after' : 'during'
    const u = rand()
    const restart = i % 2 === 0
    const nsGone = rand() < 1 / 3
    const mappings = Array.from({ length: rand() < 0.5 ? 1 : 2 }, (_, k) => ({ hostPort: 20000 + 2 * i + k, containerPort: 80 + k, protocol: 'tcp' }))
    const kind: Kind = h.daemon.dead ? 'just started' : 'after serving a DEL'
    await h.ensureDaemon()
    const delay = u * spread(kind)
    const ns = await createTestNetns(t)
    ns.exec('ip', ['link', 'set', 'lo', 'up'])
    const id = containerId()
    const d = h.daemon

    if (when === 'before') await d.kill()
    const chain = h.add(id, ns.path, mappings)
    let killedAt = 0
    const killed = when === 'during' ? sleep(delay).then(async () => ((killedAt = performance.now()), await d.kill())) : Promise.resolve()
    const add = await chain
    await killed
    if (when === 'after') ((killedAt = performance.now()), await d.kill())

    // Where the kill fell, by the shims' own start and end.
    const pm = add.portmap
    const at =
      when === 'before' ? 'before the request' : killedAt < add.bridge.ended ? 'during bridge ADD' : pm === undefined || killedAt < pm.started ? 'between the ADDs' : killedAt < pm.ended ? 'during portmap ADD' : 'after the ADDs'
    count(`kill ${at}`)
    if (at === 'after the ADDs') whole[kind].push(chainMs(add))
    const problems: string[] = []
    for (const [name, run] of [['bridge', add.bridge], ['portmap', pm]] as const) {
      if (run === undefined) continue
      const bad = improperAdd(run)
      if (bad !== undefined) problems.push(`${name} ADD: ${bad}`)
      count(`${name} ADD ${run.status === 0 ? 'succeeded' : 'code 11'}`)
    }
    if (at === 'before the request' && add.result === undefined) problems.push('with the daemon dead before the request, the shims must run the ADD standalone and succeed')

    if (nsGone) ns.destroy()
    if (restart) await h.ensureDaemon()
    count(`DEL ${restart ? 'daemon restarted' : 'daemon dead (standalone)'}${nsGone ? ', namespace gone' : ''}${add.result === undefined ? ', no prevResult' : ''}`)
    const dels = await h.del(id, ns.path, mappings, add.result)
    for (const del of dels) if (del.status !== 0 || del.timedOut) problems.push(`DEL: status ${String(del.status)} ${del.stdout}${del.stderr}`)
    if (!nsGone) {
      if (ns.exec('ip', ['-o', 'link', 'show']).includes('eth0')) problems.push('eth0 still in the container namespace')
      ns.destroy()
    }
    const left = await h.residue(baseline)
    const ruleset = h.host.exec('nft', ['list', 'ruleset'])
    if (ruleset.includes(`id:${id.slice(0, 12)}`)) left.push(`nft still names container ${id.slice(0, 12)}`)
    if (left.length > 0) {
      dirty.push(...left.map((l) => `trial ${i}: ${l}`))
      baseline = h.snapshot()
    }
    problems.push(...left)
    t.same(problems, [], `trial ${i}: kill ${at}${when === 'during' ? ` (${delay.toFixed(0)} ms into an ADD on a daemon ${kind})` : ''}, ADD ${add.result === undefined ? 'failed' : 'succeeded'}, DEL ${restart ? 'on a restarted daemon' : 'standalone'}${nsGone ? ', namespace gone' : ''}: answers proper, nothing left`)
  }
  const dirtyTrials = new Set(dirty.map((l) => l.split(':')[0])).size
  t.comment(`${TRIALS} trials, ${dirtyTrials} left something (${dirty.length} items)`)
  for (const [k, n] of Object.entries(tally).sort()) t.comment(`  ${k}: ${n}`)
  t.same(dirty, [], 'no trial left anything')

  await h.ensureDaemon()
  t.ok(pingable(h.host, base.ip), `the attachment made before the trials still answers at ${base.ip}`)
  const ns = await createTestNetns(t)
  const id = containerId()
  const mappings = [{ hostPort: 18002, containerPort: 80, protocol: 'tcp' }]
  const fresh = await h.add(id, ns.path, mappings)
  t.ok(fresh.result !== undefined, `a fresh ADD works: ${fresh.bridge.stdout}${fresh.portmap?.stdout ?? ''}`)
  const freshIp = ((fresh.result?.['ips'] as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? ''
  t.ok(pingable(h.host, freshIp), `and its address ${freshIp} answers`)
  const dels = await h.del(id, ns.path, mappings, fresh.result)
  t.ok(
    dels.every((d) => d.status === 0),
    'its DEL',
  )
  ns.destroy()
  t.same(await h.residue(start), [], 'nothing left but the base attachment')
})

t.test('kill -9 while calls are queued (20 ADDs against --max-in-flight 2): every shim answers, DEL leaves nothing', { skip }, async (t) => {
  const N = 20
  const h = await faultHost(t, '10.242.0.0/24', ['--max-in-flight', '2'])
  const base = await baseAttachment(t, h, 18000)
  const baseline = h.snapshot()
  const nss = await Promise.all(Array.from({ length: N }, () => createTestNetns(t)))
  const ids = nss.map(() => containerId())
  const mappingsOf = (i: number) => [{ hostPort: 21000 + i, containerPort: 80, protocol: 'tcp' }]
  const status = async () => {
    const s = JSON.parse(await control(h.socket, 'status')) as { queued: number; requests: { type: string; verb: string; count: number }[] }
    return { queued: s.queued, served: s.requests.find((r) => r.type === 'bridge' && r.verb === 'ADD')?.count ?? 0 }
  }
  const before = (await status()).served // the base attachment's
  const chains = nss.map((ns, i) => h.add(ids[i] as string, ns.path, mappingsOf(i)))
  // Kill once some bridge ADDs were answered and the daemon holds a queue: two in flight, several waiting.
  let st = { queued: 0, served: 0 }
  for (let i = 0; i < 1000; i++) {
    const now = await status()
    st = { queued: now.queued, served: now.served - before }
    if (st.served >= 2 && st.queued >= 3) break
    await sleep(10)
  }
  t.ok(st.served >= 2 && st.queued >= 3, `at the kill ${st.served} bridge ADDs were answered and ${st.queued} calls queued`)
  const killedAt = performance.now()
  await h.daemon.kill()
  const adds = await Promise.all(chains)
  const answered: number[] = []
  const tally: Record<string, number> = {}
  for (const [i, a] of adds.entries()) {
    for (const [name, run] of [['bridge', a.bridge], ['portmap', a.portmap]] as const) {
      if (run === undefined) continue
      t.equal(improperAdd(run), undefined, `container ${i}: ${name} ADD answers properly`)
      if (run.started < killedAt) answered.push(run.ended - killedAt)
      const k = `${name} ADD ${run.status === 0 ? 'succeeded' : 'code 11'}`
      tally[k] = (tally[k] ?? 0) + 1
    }
  }
  const slowest = Math.max(...answered)
  t.ok(slowest < 5000, `every shim running at the kill answered within ${slowest.toFixed(0)} ms of it`)
  t.comment(`${answered.length} shims were running at the kill; ${Object.entries(tally).sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`)

  await h.ensureDaemon()
  const dels = await Promise.all(nss.map((ns, i) => h.del(ids[i] as string, ns.path, mappingsOf(i), adds[i]?.result)))
  t.ok(
    dels.flat().every((d) => d.status === 0),
    `every DEL succeeded: ${dels
      .flat()
      .filter((d) => d.status !== 0)
      .map((d) => d.stdout)
      .join(' ')}`,
  )
  for (const ns of nss) ns.destroy()
  t.same(await h.residue(baseline), [], 'nothing left but the base attachment')
  t.ok(pingable(h.host, base.ip), 'the base attachment still answers')
})
