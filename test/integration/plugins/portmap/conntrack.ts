// bin/portmap flushes stale conntrack entries: on ADD those to the new host ports, on DEL those DNATed to
// the container (UDP and SCTP, IPv4 and IPv6), so a flow that started before a change does not keep its
// old destination (the rig: test/helpers/portmap-rig.ts).
import t from 'tap'
import { spawn } from 'node:child_process'
import { noConntrack, ok, rig, serve, skip, talk } from '../../../helpers/portmap-rig.js'

t.test('ADD flushes stale UDP conntrack entries for the host port', { skip: skip || noConntrack }, async (t) => {
  const rg = await rig(t)
  // A first container: bridge's NAT table turns connection tracking on in the host namespace.
  ok(t, (await rg.container('c0', [])).add, 'ADD c0')
  t.match(talk(rg.ext, '10.99.0.1', 8053, 'udp'), /^ERR/, 'nothing answers before the mapping')
  const list = () => rg.host.exec('conntrack', ['-L', '-p', 'udp', '--orig-port-dst', '8053'])
  t.match(list(), /dport=8053/, 'a conntrack entry to the host port exists')
  const c1 = await rg.container('c1', [{ hostPort: 8053, containerPort: 53, protocol: 'udp' }])
  ok(t, c1.add, 'ADD')
  t.notMatch(list(), /dport=8053/, 'the stale entry is gone')
})

t.test('ADD flushes IPv6 UDP and SCTP (both families) entries to the host ports; DEL those DNATed to the container', { skip: skip || noConntrack }, async (t) => {
  const rg = await rig(t)
  ok(t, (await rg.container('c0', [])).add, 'ADD c0 (connection tracking on in the host)')
  const ct = (args: string[]) => rg.host.exec('conntrack', args)
  // SCTP has no socket in this kernel (no sctp module): stale entries are inserted as a flow would leave them.
  const sctpEntry = (src: string, dst: string, extra: string[] = []) =>
    ct(['-I', '-p', 'sctp', '-s', src, '-d', dst, '--sport', '5000', '--dport', '8132', '--state', 'ESTABLISHED', '--orig-vtag', '1', '--reply-vtag', '2', '-t', '120', ...extra])
  t.match(talk(rg.ext, 'fd99::1', 8053, 'udp'), /^ERR/, 'nothing answers on IPv6 before the mapping')
  sctpEntry('10.99.0.2', '10.99.0.1')
  sctpEntry('fd99::2', 'fd99::1')
  const toPort = (f: string, p: string, port: number) => ct(['-L', '-f', f, '-p', p, '--orig-port-dst', String(port)])
  t.match(toPort('ipv6', 'udp', 8053), /dport=8053/, 'a stale IPv6 UDP entry')
  t.match(toPort('ipv4', 'sctp', 8132), /dport=8132/, 'a stale IPv4 SCTP entry')
  t.match(toPort('ipv6', 'sctp', 8132), /dport=8132/, 'a stale IPv6 SCTP entry')

  const c1 = await rg.container('c1', [
    { hostPort: 8053, containerPort: 53, protocol: 'udp' },
    { hostPort: 8132, containerPort: 132, protocol: 'sctp' },
  ])
  ok(t, c1.add, 'ADD')
  t.notMatch(toPort('ipv6', 'udp', 8053), /dport=8053/, 'the IPv6 UDP entry is gone')
  t.notMatch(toPort('ipv4', 'sctp', 8132), /dport=8132/, 'the IPv4 SCTP entry is gone')
  t.notMatch(toPort('ipv6', 'sctp', 8132), /dport=8132/, 'the IPv6 SCTP entry is gone')

  // Flows DNATed to c1: real UDP over both families, SCTP inserted with c1 as the reply source.
  const ips = (c1.prev['ips'] as { address: string }[]).map((i) => i.address.split('/')[0] as string)
  const v4 = ips.find((a) => !a.includes(':')) as string
  const v6 = ips.find((a) => a.includes(':')) as string
  await serve(t, c1.ns, 'c1', [53])
  t.equal(talk(rg.ext, '10.99.0.1', 8053, 'udp'), `c1 udp 53 from 10.99.0.2`, 'UDP over IPv4 through the mapping')
  t.equal(talk(rg.ext, 'fd99::1', 8053, 'udp'), `c1 udp 53 from fd99::2`, 'UDP over IPv6 through the mapping')
  sctpEntry('10.99.0.2', '10.99.0.1', ['-r', v4, '-q', '10.99.0.2', '--reply-port-src', '132', '--reply-port-dst', '5000'])
  sctpEntry('fd99::2', 'fd99::1', ['-r', v6, '-q', 'fd99::2', '--reply-port-src', '132', '--reply-port-dst', '5000'])
  const fromC1 = (f: string, p: string, ip: string) => ct(['-L', '-f', f, '-p', p, '--reply-src', ip])
  for (const [f, ip] of [['ipv4', v4], ['ipv6', v6]] as const) {
    for (const p of ['udp', 'sctp']) t.match(fromC1(f, p, ip), new RegExp(`src=${ip.replace(/\./g, '\\.')}`), `${f} ${p} entry DNATed to c1`)
  }
  ok(t, rg.pm('DEL', 'c1', '', rg.pmConf([])), 'DEL')
  for (const [f, ip] of [['ipv4', v4], ['ipv6', v6]] as const) {
    for (const p of ['udp', 'sctp']) t.notMatch(fromC1(f, p, ip), new RegExp(`src=${ip.replace(/\./g, '\\.')}`), `${f} ${p} entry to c1 is gone`)
  }
})

// A UDP client that keeps sending to host:port from one socket (one flow), 16 datagrams a millisecond,
// and counts the answers by their first word (the server's tag). Lines on stdin: "n" starts a new flow
// (a new socket) and prints "flow"; "w MS" prints the counts of the next MS milliseconds as JSON.
const FLOOD = `
const [h, p] = process.argv.slice(1)
const dgram = require('dgram')
const msg = Buffer.from('x')
let u, counts = {}
const flow = () => {
  if (u !== undefined) u.close()
  const s = (u = dgram.createSocket(h.includes(':') ? 'udp6' : 'udp4'))
  s.on('message', (m) => { const tag = m.toString().split(' ')[0]; counts[tag] = (counts[tag] || 0) + 1 })
  s.on('error', () => {})
  s.bind(0, () => console.log('flow'))
}
setInterval(() => { if (u !== undefined) for (let i = 0; i < 16; i++) u.send(msg, Number(p), h) }, 1)
let buf = ''
process.stdin.on('data', (d) => {
  buf += d
  for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
    const [cmd, ms] = buf.slice(0, i).split(' ')
    if (cmd === 'n') flow()
    else { counts = {}; setTimeout(() => console.log(JSON.stringify(counts)), Number(ms)) }
  }
})
process.stdin.on('end', () => process.exit(0))
`

// The host process answers a flood on a UDP port; a container is published on it. Packets queued to the
// host process before the ADD's flush are answered after it, and such an answer makes a conntrack entry
// host:port -> client, which the client's next packets match (in its reply direction) and follow to the
// host process, never DNATed. Each round is a new flow, so a stuck round does not carry over.
t.test('ADD takes over a UDP flow a host process keeps answering (a reply crossing the flush)', { skip: skip || noConntrack }, async (t) => {
  const rounds = Number(process.env['BERTH_UDP_RACE_ROUNDS'] ?? 25)
  const rg = await rig(t)
  const c1 = await rg.container('c1', [])
  ok(t, c1.add, 'ADD c1 (no mappings yet)')
  await serve(t, c1.ns, 'c1', [53])
  await serve(t, rg.host, 'host', [8054])
  const client = spawn('nsenter', [`--net=${rg.ext.path}`, '--', process.execPath, '-e', FLOOD, '10.99.0.1', '8054'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => {
    client.kill('SIGKILL')
  })
  const lines: string[] = []
  let waiting: ((l: string) => void) | undefined
  let rest = ''
  client.stdout.on('data', (d: Buffer) => {
    rest += d.toString()
    for (let i; (i = rest.indexOf('\n')) >= 0; rest = rest.slice(i + 1)) {
      const l = rest.slice(0, i)
      const w = waiting
      waiting = undefined
      if (w !== undefined) w(l)
      else lines.push(l)
    }
  })
  const ask = (line: string): Promise<string> => {
    client.stdin.write(`${line}\n`)
    const l = lines.shift()
    return l !== undefined ? Promise.resolve(l) : new Promise<string>((r) => (waiting = r))
  }
  const window = async (ms: number) => JSON.parse(await ask(`w ${ms}`)) as Record<string, number>
  const hostOnly = (c: Record<string, number>) => (c['host'] ?? 0) > 0 && c['c1'] === undefined
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const conf = rg.pmConf([{ hostPort: 8054, containerPort: 53, protocol: 'udp' }], c1.prev)
  const deadline = Date.now() + 40_000
  const stuck: number[] = []
  const start = Date.now()
  let addMs = 0
  let done = 0
  for (; done < rounds && Date.now() < deadline; done++) {
    t.equal(await ask('n'), 'flow', `round ${done}: a new flow`)
    // The flow is the host's: the host process answers it.
    let before = await window(100)
    for (let i = 0; i < 10 && !hostOnly(before); i++) before = await window(100)
    if (!hostOnly(before)) {
      t.fail(`round ${done}: the host process does not answer alone before ADD: ${JSON.stringify(before)}`)
      break
    }
    const t0 = Date.now()
    const add = rg.pm('ADD', 'c1', c1.ns, conf)
    addMs += Date.now() - t0
    if (add.status !== 0) {
      ok(t, add, `round ${done}: ADD`)
      break
    }
    // Packets already queued to the host process are answered by it for a moment; then only by c1.
    await sleep(100)
    const after = await window(200)
    if (after['host'] !== undefined || after['c1'] === undefined) {
      if (stuck.length === 0) t.comment(`after ADD: ${JSON.stringify(after)}\n${rg.host.exec('conntrack', ['-L', '-p', 'udp'])}`)
      stuck.push(done)
    }
    const del = rg.pm('DEL', 'c1', c1.ns, rg.pmConf([]))
    if (del.status !== 0) {
      ok(t, del, `round ${done}: DEL`)
      break
    }
  }
  t.comment(`${done} rounds, ${Math.round((Date.now() - start) / done)} ms each, ADD ${Math.round(addMs / done)} ms`)
  t.ok(done >= Math.min(rounds, 10), `${done} rounds in time`)
  t.same(stuck, [], `after ADD, the flow goes to the container in every round (stayed on the host: ${stuck.length} of ${done})`)
})
