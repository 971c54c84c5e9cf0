// daemon/server.ts descendsFrom: the daemon hands back calls made by the calls it serves.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { descendsFrom } from '../../../daemon/server.js'

t.test('a grandchild descends from this process; this process not from its child; a gone pid from nothing', async (t) => {
  // sh starts sleep and waits: sleep is our grandchild.
  const sh = spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => void sh.kill('SIGKILL'))
  const grandchild = await new Promise<number>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
  t.teardown(() => {
    try {
      process.kill(grandchild, 'SIGKILL')
    } catch {
      // gone already
    }
  })
  t.ok(descendsFrom(grandchild, process.pid), 'grandchild')
  t.ok(descendsFrom(sh.pid ?? -1, process.pid), 'child')
  t.notOk(descendsFrom(process.pid, sh.pid ?? -1), 'not the other way round')
  t.notOk(descendsFrom(grandchild, grandchild), 'not of itself')
  const maxPid = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'))
  t.notOk(descendsFrom(maxPid + 1, process.pid), 'no such process')
})
