// writeFileAtomicSync: content, modes, replacement, and no temp files left on success or failure.
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CniCode } from '../../../../pkg/errors/cni-error.js'
import { removeTempFiles, syncDirectory, tempFileName, writeFileAtomicSync } from '../../../../pkg/fsutil/atomic-write.js'

t.test('writes a new file, 0600 by default', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'state.json')
  writeFileAtomicSync(path, '{"a":1}\n')
  t.equal(readFileSync(path, 'utf8'), '{"a":1}\n')
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.same(readdirSync(dir), ['state.json'], 'no temp file left')
})

t.test('replaces an existing file whole, with the requested mode', async (t) => {
  const dir = t.testdir({ 'state.json': 'old contents that are longer than the new ones' })
  const path = join(dir, 'state.json')
  const before = statSync(path).ino
  writeFileAtomicSync(path, Buffer.from('new'), { mode: 0o644 })
  t.equal(readFileSync(path, 'utf8'), 'new')
  t.equal(statSync(path).mode & 0o777, 0o644)
  t.not(statSync(path).ino, before, 'a new inode: readers of the old file are not disturbed')
  t.same(readdirSync(dir), ['state.json'])
})

t.test('large and empty contents', async (t) => {
  const dir = t.testdir()
  const big = Buffer.alloc(3 << 20, 7)
  writeFileAtomicSync(join(dir, 'big'), big)
  t.ok(readFileSync(join(dir, 'big')).equals(big))
  writeFileAtomicSync(join(dir, 'empty'), '', { syncDir: false })
  t.equal(readFileSync(join(dir, 'empty'), 'utf8'), '')
})

t.test('failures are CniError 5 and leave no temp file', async (t) => {
  const dir = t.testdir()
  t.throws(() => writeFileAtomicSync(join(dir, 'missing', 'x'), 'a'), { name: 'CniError', code: CniCode.IoFailure, message: /failed to write .*missing\/x: ENOENT/ })
  mkdirSync(join(dir, 'taken'))
  writeFileSync(join(dir, 'taken', 'inside'), '')
  t.throws(() => writeFileAtomicSync(join(dir, 'taken'), 'a'), { code: CniCode.IoFailure, message: /EISDIR|ENOTEMPTY|EEXIST/ }, 'cannot rename over a directory')
  t.same(readdirSync(dir).sort(), ['taken'], 'the temp file was removed')
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro')
    mkdirSync(ro)
    chmodSync(ro, 0o500)
    t.throws(() => writeFileAtomicSync(join(ro, 'x'), 'a'), { code: CniCode.IoFailure, message: /EACCES/ })
  }
})

t.test('syncDirectory', async (t) => {
  const dir = t.testdir({ f: '' })
  t.doesNotThrow(() => syncDirectory(dir))
  t.throws(() => syncDirectory(join(dir, 'f')), { code: CniCode.IoFailure, message: /ENOTDIR/ })
})

t.test('tmpDir: the temporary file is made there; removeTempFiles finds what a killed writer left', async (t) => {
  const dir = t.testdir({ store: {}, tmp: {} })
  const target = join(dir, 'store', '10.0.0.1')
  writeFileAtomicSync(target, 'a', { tmpDir: join(dir, 'tmp') })
  t.equal(readFileSync(target, 'utf8'), 'a')
  t.same(readdirSync(join(dir, 'tmp')), [], 'renamed away')
  t.same(readdirSync(join(dir, 'store')), ['10.0.0.1'])
  // Leftovers as a process killed between create and rename leaves them, for this target and others.
  const mine = [tempFileName(target), tempFileName(target)]
  const others = [tempFileName(join(dir, 'store', '10.0.0.12')), tempFileName(join(dir, 'store', '10.0.0.1.json'))]
  for (const f of [...mine, ...others, 'unrelated', '.10.0.0.1.not-ours.tmp']) writeFileSync(join(dir, 'tmp', f), '')
  removeTempFiles(join(dir, 'tmp'), target)
  t.same(readdirSync(join(dir, 'tmp')).sort(), [...others, 'unrelated', '.10.0.0.1.not-ours.tmp'].sort(), "only the target's own temporary files go")
  removeTempFiles(join(dir, 'tmp'))
  t.same(readdirSync(join(dir, 'tmp')).sort(), ['.10.0.0.1.not-ours.tmp', 'unrelated'].sort(), 'without a target: every temporary file, nothing else')
  t.doesNotThrow(() => removeTempFiles(join(dir, 'missing')), 'no directory: nothing to do')
})
