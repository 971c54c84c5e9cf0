// Finding a network by the "name" inside the files of a conf dir, in libcni's order: *.conflist sorted,
// then single *.conf/*.json wrapped into a list; <dir>/<name>/*.conf plugins; invalid files skipped but
// named when the network is not found.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadNetworkList, NetworkNotFoundError, scanConfDir } from '../../../runtime-min/libcni/conf.js'

const list = (name: string, type = 'bridge', extra: object = {}) => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type, ...extra }] })

t.test('by name, not by file name; conflists before single confs; sorted', async (t) => {
  const dir = t.testdir({
    '10-b.conflist': list('alpha', 'from-10-b'),
    '20-a.conflist': list('alpha', 'from-20-a'),
    '00-single.conf': JSON.stringify({ cniVersion: '0.4.0', name: 'alpha', type: 'from-conf' }),
    '05-single.json': JSON.stringify({ cniVersion: '0.4.0', name: 'solo', type: 'ptp', ipam: { type: 'host-local' } }),
    'beta.conflist': list('gamma'),
    'notes.txt': 'not a config',
  })
  t.equal(loadNetworkList(dir, 'alpha').plugins[0]?.type, 'from-10-b', 'the first conflist in name order wins; .conf comes after conflists')
  t.equal(loadNetworkList(dir, 'gamma').source, join(dir, 'beta.conflist'))
  const solo = loadNetworkList(dir, 'solo')
  t.equal(solo.cniVersion, '0.4.0')
  t.same(solo.plugins.map((p) => p.type), ['ptp'])
  t.equal(Buffer.from(solo.bytes).toString(), '{"cniVersion":"0.4.0","name":"solo","plugins":[{"cniVersion":"0.4.0","ipam":{"type":"host-local"},"name":"solo","type":"ptp"}]}', 'wrapped as libcni ConfListFromConf marshals it (sorted keys)')
})

t.test('plugins from <dir>/<name>/*.conf unless loadOnlyInlinedPlugins', async (t) => {
  const dir = t.testdir({
    'n.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'n' }),
    'm.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'm', loadOnlyInlinedPlugins: true, plugins: [{ type: 'a' }] }),
    n: { '1.conf': JSON.stringify({ type: 'bridge' }), '2.conf': JSON.stringify({ type: 'portmap' }), 'x.json': JSON.stringify({ type: 'ignored' }) },
    m: { '1.conf': JSON.stringify({ type: 'ignored' }) },
  })
  t.same(loadNetworkList(dir, 'n').plugins.map((p) => p.type), ['bridge', 'portmap'])
  t.same(loadNetworkList(dir, 'm').plugins.map((p) => p.type), ['a'])
})

t.test('not found: a clear error naming the dir, the fix and the files it skipped', async (t) => {
  const dir = t.testdir({ 'good.conflist': list('good'), 'broken.conflist': '{"name": "x", plugins' })
  t.equal(loadNetworkList(dir, 'good').name, 'good', 'a broken file does not hide the others')
  try {
    loadNetworkList(dir, 'nope')
    t.fail('should throw')
  } catch (e) {
    t.ok(e instanceof NetworkNotFoundError, 'a NetworkNotFoundError (DEL falls back to the cached conflist on it)')
  }
  t.throws(() => loadNetworkList(dir, 'nope'), { message: /no network named "nope" in .*\(skipped invalid files: .*broken\.conflist: failed to parse/ })
  t.throws(() => loadNetworkList(join(dir, 'missing'), 'x'), { message: /no network named "x"/ }, 'a missing dir is just empty')
  t.throws(() => loadNetworkList(dir, '../good'), { message: /invalid characters/ })
  const entries = scanConfDir(dir)
  t.same(entries.map((e) => ('list' in e ? e.list.name : 'error')), ['error', 'good'])
})

t.test('version selection and bad lists', async (t) => {
  const dir = t.testdir({
    'v.conflist': JSON.stringify({ cniVersion: '0.4.0', cniVersions: ['1.0.0', '1.1.0', '9.0.0'], name: 'v', plugins: [{ type: 'a' }] }),
    'e.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'e', plugins: [] }),
  })
  t.equal(loadNetworkList(dir, 'v').cniVersion, '1.1.0', 'highest supported of cniVersions')
  t.throws(() => loadNetworkList(dir, 'e'), { message: /skipped invalid files: .*e\.conflist: .*no plugins/ })
  mkdirSync(join(dir, 'sub.conflist'))
  writeFileSync(join(dir, 'z.conf'), '{}')
  t.ok(scanConfDir(dir).some((e) => 'error' in e && e.file.endsWith('z.conf')), 'a .conf without name/type is reported')
})
