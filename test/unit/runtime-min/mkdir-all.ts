// mkdirAll: creates missing levels, accepts an existing directory, and fails (rather than spinning, as
// Node's recursive mkdirSync does) where a level cannot be made.
import t from 'tap'
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mkdirAll } from '../../../runtime-min/mkdir-all.js'

t.test('mkdirAll', async (t) => {
  const dir = t.testdir()
  mkdirAll(join(dir, 'a/b/c'), 0o700)
  t.ok(statSync(join(dir, 'a/b/c')).isDirectory())
  t.equal(statSync(join(dir, 'a/b/c')).mode & 0o777, 0o700)
  mkdirAll(join(dir, 'a/b/c'))
  writeFileSync(join(dir, 'f'), '')
  t.throws(() => mkdirAll(join(dir, 'f')), { code: 'EEXIST' }, 'a file is not a directory')
  t.throws(() => mkdirAll(join(dir, 'f/x')), { code: 'ENOTDIR' })
  t.throws(() => mkdirAll('/proc/self/berth-nope/x'), { code: 'ENOENT' }, 'ends under /proc')
})
