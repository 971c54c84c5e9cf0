// isOwnExecutable: a berth shim carrying the running build's id counts wherever it is; so does berth's own
// Node launcher for the type beside the running one (symlinks resolved). A wrapper in its place, another
// build's shim, a launcher elsewhere or of another type does not.
import t from 'tap'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isOwnExecutable, isOwnShim, launcherMarker, SHIM_MARKER, shimBuildId } from '../../../../pkg/invoke/own-executable.js'
import { delegateRun } from '../../../../pkg/invoke/delegate.js'
import { BIN_DIR } from '../../../helpers/paths.js'
import { needsBuiltBin } from '../../../helpers/privileges.js'

// What scripts/build.mjs writes into bin/lib/<type> (the lines that matter for identity).
const launcher = (type: string) =>
  `#!/usr/bin/env node\n"use strict";\n${launcherMarker(type)}const base = require("path").join(__dirname, ${JSON.stringify(type)});\n`
const ID = '0123456789abcdef'
// The shape of a shim: an ELF header, then somewhere the marker and its id.
const shim = (id: string, head = '\x7fELF') => Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(5000), Buffer.from(`${SHIM_MARKER}${id}\0`), Buffer.alloc(100)])
const exe = (path: string, text: string) => {
  writeFileSync(path, text)
  chmodSync(path, 0o755)
  return path
}

t.test('the launcher beside us, directly or through a symlink, is ours', async (t) => {
  const root = t.testdir({ bin: {}, other: {}, links: {} })
  const bin = join(root, 'bin')
  const own = exe(join(bin, 'host-local'), launcher('host-local'))
  t.equal(isOwnExecutable(own, 'host-local', bin), true)
  t.equal(isOwnExecutable(own, 'host-local', bin, ID), true, 'whatever the build id')
  symlinkSync(own, join(root, 'links', 'host-local'))
  t.equal(isOwnExecutable(join(root, 'links', 'host-local'), 'host-local', bin), true, 'symlink to it')
  // our own directory reached through a symlink
  symlinkSync(bin, join(root, 'binlink'))
  t.equal(isOwnExecutable(own, 'host-local', join(root, 'binlink')), true, 'self dir through a symlink')
  // the same launcher text in another directory: another copy or build of berth
  const copy = exe(join(root, 'other', 'host-local'), launcher('host-local'))
  t.equal(isOwnExecutable(copy, 'host-local', bin), false, 'a copy elsewhere is not ours')
  t.equal(isOwnExecutable(own, 'host-local', undefined), false, 'not running from a bundle')
  t.equal(isOwnExecutable(own, 'host-local', join(root, 'other', 'none')), false, 'nothing of that name beside us')
})

t.test('a wrapper or another type in its place is not ours', async (t) => {
  const bin = t.testdir({})
  const wrapper = exe(join(bin, 'host-local'), '#!/bin/sh\nexec /usr/lib/cni/host-local "$@"\n')
  t.equal(isOwnExecutable(wrapper, 'host-local', bin), false, 'wrapper script')
  exe(wrapper, launcher('static'))
  t.equal(isOwnExecutable(wrapper, 'host-local', bin), false, "another type's launcher")
  exe(wrapper, launcher('host-local').replace(launcherMarker('host-local'), ''))
  t.equal(isOwnExecutable(wrapper, 'host-local', bin), false, 'without the marker line')
  exe(wrapper, launcher('host-local').replace('join(__dirname, ', 'join(__dirname, "lib", '))
  t.equal(isOwnExecutable(wrapper, 'host-local', bin), false, 'a launcher of the layout before the shim')
})

t.test("a shim of the running build counts wherever it is; another build's, or one in a script, does not", async (t) => {
  const root = t.testdir({ a: {}, b: {}, links: {} })
  const own = exe(join(root, 'a', 'host-local'), '')
  writeFileSync(own, shim(ID))
  t.equal(shimBuildId(own), ID)
  t.equal(isOwnExecutable(own, 'host-local', undefined, ID), true, 'no running launcher needed')
  t.equal(isOwnExecutable(own, 'host-local', join(root, 'b'), ID), true, 'in another directory than ours')
  symlinkSync(own, join(root, 'links', 'host-local'))
  t.equal(isOwnExecutable(join(root, 'links', 'host-local'), 'host-local', undefined, ID), true, 'through a symlink')
  t.equal(isOwnExecutable(own, 'host-local', undefined, 'fedcba9876543210'), false, "another build's shim")
  t.equal(isOwnShim(own, 'dev'), false, 'never from the sources')
  const script = exe(join(root, 'b', 'host-local'), `#!/bin/sh\n# ${SHIM_MARKER}${ID}\nexec /usr/lib/cni/host-local\n`)
  t.equal(isOwnExecutable(script, 'host-local', undefined, ID), false, 'the marker in a script')
  writeFileSync(script, shim(ID.slice(0, 12)))
  t.equal(isOwnExecutable(script, 'host-local', undefined, ID.slice(0, 12)), false, 'an id of the wrong shape')
  t.equal(isOwnExecutable(join(root, 'b', 'none'), 'none', undefined, ID), false, 'missing file')
})

t.test('the id read from a shim is cached by file identity, and a changed file is read again', async (t) => {
  const dir = t.testdir({})
  const p = exe(join(dir, 'bridge'), '')
  writeFileSync(p, shim(ID))
  utimesSync(p, 1000, 1000)
  t.equal(isOwnShim(p, ID), true)
  // Same size, same mtime, same inode: the cached verdict stands (the file is not read again).
  writeFileSync(p, shim('fedcba9876543210'))
  utimesSync(p, 1000, 1000)
  t.equal(isOwnShim(p, ID), true, 'cached')
  utimesSync(p, 2000, 2000)
  t.equal(isOwnShim(p, ID), false, 'a new mtime: read again')
  t.equal(isOwnShim(p, 'fedcba9876543210'), true)
})

t.test('the built shims carry the id of bin/lib/build-id', { skip: needsBuiltBin('host-local', BIN_DIR) }, async (t) => {
  const id = readFileSync(join(BIN_DIR, 'lib', 'build-id'), 'utf8')
  t.match(id, /^[0-9a-f]{16}$/)
  t.equal(shimBuildId(join(BIN_DIR, 'host-local')), id)
  t.equal(isOwnExecutable(join(BIN_DIR, 'host-local'), 'host-local', undefined, id), true)
  t.equal(shimBuildId(join(BIN_DIR, 'lib', 'host-local')), undefined, 'the Node launcher is no shim')
  t.equal(isOwnExecutable(join(BIN_DIR, 'lib', 'host-local'), 'host-local', join(BIN_DIR, 'lib'), id), true, 'but the launcher beside ours')
  const copy = join(t.testdir({}), 'host-local')
  copyFileSync(join(BIN_DIR, 'host-local'), copy)
  t.equal(isOwnExecutable(copy, 'host-local', undefined, id), true, 'a copy of the shim elsewhere: the same build')
  const ref = '/usr/lib/cni/host-local'
  if (existsSync(ref)) t.equal(isOwnExecutable(ref, 'host-local', join(BIN_DIR, 'lib'), id), false, 'the reference plugin')
})

t.test('delegateRun execs a type whose executable is not ours, never calling the in-process runner', async (t) => {
  const bin = t.testdir({})
  mkdirSync(join(bin, 'x'))
  exe(join(bin, 'host-local'), `#!${process.execPath}\nprocess.stdout.write(JSON.stringify({ cniVersion: '1.1.0', ips: [], dns: { nameservers: [process.env.CNI_COMMAND] } }))\n`)
  let called = 0
  const out = await delegateRun(
    {
      type: 'host-local',
      path: [join(bin, 'x'), bin],
      env: { PATH: process.env['PATH'] },
      stdin: Buffer.from('{}'),
      local: async () => {
        called++
        return { exitCode: 0, stdout: '{}' }
      },
    },
    'ADD',
  )
  t.same(out, { cniVersion: '1.1.0', ips: [], dns: { nameservers: ['ADD'] } })
  t.equal(called, 0)
})
