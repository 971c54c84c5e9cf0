// openStore: which store a config makes, and the etcd options checked before anything connects.
import t from 'tap'
import { CniCode } from '../../../pkg/errors/cni-error.js'
import { EtcdLeaseStore } from '../../../pkg/overlay/etcd-store.js'
import { FileLeaseStore } from '../../../pkg/overlay/file-store.js'
import { DEFAULT_FILE_STORE_PATH, openStore } from '../../../pkg/overlay/store.js'

t.test('file store: the default path, or the one given', async (t) => {
  const a = openStore({ type: 'file' })
  t.ok(a instanceof FileLeaseStore)
  t.equal((a as FileLeaseStore).root, DEFAULT_FILE_STORE_PATH)
  t.equal(DEFAULT_FILE_STORE_PATH, '/var/lib/berth/overlay')
  t.equal((openStore({ type: 'file', path: '/tmp/x' }) as FileLeaseStore).root, '/tmp/x')
})

t.test('etcd store: made without connecting; bad options are code 7 naming what to fix', async (t) => {
  const s = openStore({ type: 'etcd', endpoints: ['http://127.0.0.1:2379'] })
  t.ok(s instanceof EtcdLeaseStore)
  await s.close()
  t.pass('closing a store that never connected is fine')
  const bad: [Parameters<typeof openStore>[0], RegExp][] = [
    [{ type: 'etcd', endpoints: [] }, /"endpoints" is empty/],
    [{ type: 'etcd', endpoints: ['127.0.0.1:2379'] }, /endpoint "127\.0\.0\.1:2379" is not a URL such as "http:\/\/10\.0\.0\.1:2379"/],
    [{ type: 'etcd', endpoints: ['http://h:1/path'] }, /is not a URL/],
    [{ type: 'etcd', endpoints: ['http://h:1'], prefix: 'berth' }, /prefix "berth" must start with "\/"/],
    [{ type: 'etcd', endpoints: ['http://h:1'], prefix: '/a b' }, /printable characters only/],
    [{ type: 'etcd', endpoints: ['http://h:1'], dialTimeoutMs: 10 }, /dial timeout 10 ms is too short/],
  ]
  for (const [cfg, msg] of bad) t.throws(() => openStore(cfg), { code: CniCode.InvalidConfig, message: msg }, JSON.stringify(cfg))
})
