// The README's main job (`npm run demo`) must keep working: it drives the whole stack through `berth`
// (rig, run -p, rm, rig down) and checks its own results, so its exit status is the verdict.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { needsRoot } from '../helpers/privileges.js'
import { REPO_ROOT } from '../helpers/paths.js'

t.test('npm run demo (scripts/demo.mjs) succeeds and leaves no rig behind', { skip: needsRoot() }, async (t) => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'demo.mjs')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 150_000 })
  t.equal(r.status, 0, `exit status (last output: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')})`)
  t.match(r.stdout, /^demo: ok in [\d.]+ s$/m, 'the demo says it passed')
  t.match(r.stdout, /ok: container on host1 -> [\d.]+:18080: the payload came back/, 'the published port was reached across the underlay')
  t.match(r.stdout, /ok: port 18080 is no longer in any published-port map/, 'rm removed the mapping')
  const rig = /berth rig up --name (demo-[0-9a-f]+)/.exec(r.stdout)?.[1]
  t.ok(rig, 'the demo named its rig')
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  t.notMatch(netns, new RegExp(`^${rig ?? 'no-rig'}\\.`, 'm'), 'no namespace of the demo rig is left')
})
