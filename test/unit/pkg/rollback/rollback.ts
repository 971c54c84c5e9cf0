import t from 'tap'
import { Rollback } from '../../../../pkg/rollback/rollback.js'
import type { Log } from '../../../../pkg/log/log.js'

function recordingLog(): Log & { warnings: string[] } {
  const warnings: string[] = []
  return { warnings, debug() {}, info() {}, warn: (m) => void warnings.push(m), error() {} }
}

t.test('undoes in reverse order and keeps going past a failing undo', async (t) => {
  const rb = new Rollback()
  const calls: string[] = []
  rb.defer('delete veth', () => void calls.push('veth'))
  rb.defer('release IPAM', async () => {
    calls.push('ipam')
    throw new Error('plugin gone')
  })
  rb.defer('remove NAT', () => void calls.push('nat'))
  const log = recordingLog()
  await rb.settle(log)
  t.same(calls, ['nat', 'ipam', 'veth'])
  t.same(log.warnings, ['rollback: release IPAM failed: plugin gone'])
  await rb.settle(log)
  t.same(calls, ['nat', 'ipam', 'veth'], 'a second settle undoes nothing again')
})

t.test('a committed rollback undoes nothing', async (t) => {
  const rb = new Rollback()
  let undone = false
  rb.defer('x', () => {
    undone = true
  })
  rb.commit()
  await rb.settle(recordingLog())
  t.notOk(undone)
})
