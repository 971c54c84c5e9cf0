// The result cache in libcni's format (libcni/api.go cachedInfo): field names and order, base64 config,
// omitempty rules, Go's sorted map keys, the file name; reading libcni's own (and legacy) files; damage
// is a state, never an exception; names cannot walk out of the cache dir.
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CACHE_KIND, cacheFilePath, decodeCache, deleteCache, encodeCache, listCachedAttachments, readCache, writeCache, type CachedAttachment } from '../../../runtime-min/libcni/cache.js'

const CONFIG = '{"cniVersion":"1.0.0","name":"mynet","plugins":[{"type":"bridge"}]}'
const entry: CachedAttachment = {
  containerId: 'abc123',
  ifName: 'eth0',
  networkName: 'mynet',
  netns: '/run/netns/x',
  config: Buffer.from(CONFIG),
  cniArgs: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web']],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], mac: '02:42:ac:11:00:02' },
  result: {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:42:ac:11:00:02', sandbox: '/run/netns/x' }],
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
  },
}

// What libcni's json.Marshal(&cachedInfo) writes for the same attachment (struct fields in declaration
// order; the maps capabilityArgs and result with sorted keys; config as standard base64).
const GOLDEN =
  '{"kind":"cniCacheV1","containerId":"abc123",' +
  '"config":"eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoibXluZXQiLCJwbHVnaW5zIjpbeyJ0eXBlIjoiYnJpZGdlIn1dfQ==",' +
  '"ifName":"eth0","networkName":"mynet","netns":"/run/netns/x",' +
  '"cniArgs":[["IgnoreUnknown","1"],["K8S_POD_NAME","web"]],' +
  '"capabilityArgs":{"mac":"02:42:ac:11:00:02","portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]},' +
  '"result":{"cniVersion":"1.0.0","interfaces":[{"mac":"02:42:ac:11:00:02","name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"10.88.0.5/16","gateway":"10.88.0.1","interface":0}]}}'

t.test('encodes exactly as libcni does', async (t) => {
  t.equal(encodeCache(entry), GOLDEN)
  t.equal(CACHE_KIND, 'cniCacheV1')
})

t.test('omitempty: netns, cniArgs, capabilityArgs and result left out when empty', async (t) => {
  const bare = encodeCache({ ...entry, netns: '', cniArgs: [], capabilityArgs: {}, result: undefined })
  t.same(Object.keys(JSON.parse(bare) as object), ['kind', 'containerId', 'config', 'ifName', 'networkName'])
})

t.test('round trip through the file, with libcni\'s name and permissions', async (t) => {
  const dir = t.testdir()
  writeCache(dir, entry)
  const file = join(dir, 'results', 'mynet-abc123-eth0')
  t.equal(readFileSync(file, 'utf8'), GOLDEN, 'file holds the golden bytes')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(statSync(join(dir, 'results')).mode & 0o777, 0o700)
  t.same(readdirSync(join(dir, 'results')), ['mynet-abc123-eth0'], 'no temporary file left')
  const r = readCache(dir, 'mynet', 'abc123', 'eth0')
  t.equal(r.state, 'ok')
  if (r.state === 'ok') {
    t.equal(Buffer.from(r.entry.config).toString(), CONFIG)
    t.same(r.entry.cniArgs, entry.cniArgs)
    t.same(r.entry.result, JSON.parse(GOLDEN).result)
    t.equal(r.entry.netns, '/run/netns/x')
  }
  t.same(listCachedAttachments(dir, { network: 'mynet' }).map((a) => a.containerId), ['abc123'])
  t.same(listCachedAttachments(dir, { network: 'other' }), [])
  deleteCache(dir, 'mynet', 'abc123', 'eth0')
  t.notOk(existsSync(file))
  t.equal(readCache(dir, 'mynet', 'abc123', 'eth0').state, 'missing')
  deleteCache(dir, 'mynet', 'abc123', 'eth0')
})

t.test('damaged files are states, never exceptions; legacy result-only files are read', async (t) => {
  for (const text of ['', '   ', '{"kind":', '[]', '"x"', '{"kind":"cniCacheV2","containerId":"a","ifName":"e","networkName":"n"}', '{"kind":"cniCacheV1"}', '{"kind":"cniCacheV1","containerId":"a","ifName":"e","networkName":"n","config":"%%%"}', '{"kind":"cniCacheV1","containerId":"a","ifName":"e","networkName":"n","cniArgs":[["a"]]}']) {
    t.equal(decodeCache(text).state, 'corrupt', JSON.stringify(text))
  }
  const legacy = decodeCache('{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.2.3/24"}]}')
  t.equal(legacy.state, 'legacy', 'a pre-cniCacheV1 result (libcni getLegacyCachedResult)')
  const dir = t.testdir()
  mkdirSync(join(dir, 'results'))
  writeFileSync(join(dir, 'results', 'mynet-abc123-eth0'), '')
  writeFileSync(join(dir, 'results', 'mynet-zzz-eth0'), GOLDEN.replace('abc123', 'zzz'))
  t.equal(readCache(dir, 'mynet', 'abc123', 'eth0').state, 'corrupt')
  t.same(listCachedAttachments(dir).map((a) => a.containerId), ['zzz'], 'listing skips the damaged file')
})

t.test('names are validated: nothing can reach outside the results dir', async (t) => {
  for (const [net, id, ifn] of [['../x', 'a', 'eth0'], ['n', '../../etc/passwd', 'eth0'], ['n', 'a', '../../x'], ['n', 'a', 'eth/0'], ['', 'a', 'eth0'], ['n', '', 'eth0'], ['n', 'a', '']]) {
    t.throws(() => cacheFilePath('/var/lib/cni', net ?? '', id ?? '', ifn ?? ''), `${net} ${id} ${ifn}`)
  }
  t.equal(cacheFilePath('/var/lib/cni', 'podman', 'cnitool-0123456789abcdef0123', 'eth0'), '/var/lib/cni/results/podman-cnitool-0123456789abcdef0123-eth0')
})
