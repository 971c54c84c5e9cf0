// daemon/metrics.ts: counts, percentiles and the Prometheus text.
import t from 'tap'
import { Metrics } from '../../../daemon/metrics.js'

t.test('status and Prometheus text agree', async (t) => {
  const m = new Metrics()
  for (let i = 1; i <= 100; i++) m.record('bridge', 'ADD', i / 1000, i % 10 === 0 ? 7 : 0)
  m.record('portmap', 'DEL', 0.002, 0)
  m.fallback('caller in another network namespace')
  const st = m.status({ pid: 1, build: 'b', version: 'v', socket: '/s', in_flight: 0, queued: 0, max_in_flight: 64, workers: { running: 2, busy: 1, served: 17 } })
  const add = st.requests.find((r) => r.type === 'bridge' && r.verb === 'ADD')
  t.equal(add?.count, 100)
  t.same(add?.codes, { 0: 90, 7: 10 })
  t.equal(add?.p50_ms, 51)
  t.equal(add?.p90_ms, 91)
  t.equal(add?.p99_ms, 100)
  const text = m.prometheus(st)
  t.match(text, /^berth_daemon_requests_total\{type="bridge",verb="ADD",code="7"\} 10$/m)
  t.match(text, /^berth_daemon_request_duration_seconds_bucket\{type="bridge",verb="ADD",le="0.01"\} 10$/m)
  t.match(text, /^berth_daemon_request_duration_seconds_count\{type="bridge",verb="ADD"\} 100$/m)
  t.match(text, /^berth_daemon_worker_threads 2$/m)
  t.match(text, /^berth_daemon_worker_calls_total 17$/m)
  t.match(text, /^berth_daemon_fallbacks_total\{reason="caller in another network namespace"\} 1$/m)
  for (const line of text.trim().split('\n')) t.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$/, 'exposition format line')
})

t.test('memory stays bounded: old samples leave the percentiles', async (t) => {
  const m = new Metrics()
  for (let i = 0; i < 5000; i++) m.record('x', 'ADD', 1, 0)
  for (let i = 0; i < 2048; i++) m.record('x', 'ADD', 0.001, 0)
  const st = m.status({ pid: 1, build: 'b', version: 'v', socket: '/s', in_flight: 0, queued: 0, max_in_flight: 1, workers: { running: 0, busy: 0, served: 0 } })
  t.equal(st.requests[0]?.count, 7048)
  t.equal(st.requests[0]?.p99_ms, 1)
})
