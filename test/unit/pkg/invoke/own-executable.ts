// isOwnExecutable: only berth's own launcher for the type, beside the running executable (symlinks
// resolved), counts; a wrapper in its place, a launcher elsewhere or of another type does not.
import t from 'tap'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isOwnExecutable, launcherMarker } from '../../../../pkg/invoke/own-executable.js'
import { delegateRun } from '../../../../pkg/invoke/delegate.js'

// What scripts/build.mjs writes (the lines that matter for identity).
const launcher = (type: string) =>
  `#!/usr/bin/env node\n"use strict";\n${launcherMarker(type)}const base = require("path").join(__dirname, "lib", ${JSON.stringify(type)});\n`
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
