// What the daemon has done, for `berth daemon status` and Prometheus. Bounded memory: counters per
// (type, verb, code) and, per (type, verb), the last SAMPLES latencies for percentiles plus a fixed
// histogram, so a daemon that serves millions of calls holds the same few kilobytes.

const SAMPLES = 2048
/** Histogram bucket upper bounds, seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

class Series {
  count = 0
  sum = 0
  readonly buckets = new Array<number>(BUCKETS.length).fill(0)
  readonly ring = new Float64Array(SAMPLES)
  readonly codes = new Map<number, number>()

  add(seconds: number, code: number): void {
    this.ring[this.count % SAMPLES] = seconds
    this.count++
    this.sum += seconds
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.buckets[i] = (this.buckets[i] ?? 0) + 1
    })
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1)
  }

  percentiles(): { p50: number; p90: number; p99: number } {
    const n = Math.min(this.count, SAMPLES)
    const sorted = Array.from(this.ring.subarray(0, n)).sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))] ?? 0
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) }
  }
}

export interface SeriesStatus {
  type: string
  verb: string
  count: number
  /** CNI result code (0: success) → count */
  codes: Record<string, number>
  p50_ms: number
  p90_ms: number
  p99_ms: number
}

export interface DaemonStatus {
  pid: number
  build: string
  version: string
  socket: string
  uptime_s: number
  in_flight: number
  queued: number
  max_in_flight: number
  rss_bytes: number
  /** V8 heap in use (process.memoryUsage().heapUsed): with rss_bytes, tells a JavaScript leak from a native one */
  heap_used_bytes: number
  /** worker threads (daemon/workers.ts): alive, with calls in flight, calls run on them */
  workers: { running: number; busy: number; served: number }
  fallbacks: Record<string, number>
  requests: SeriesStatus[]
}

export class Metrics {
  readonly started = Date.now()
  readonly #series = new Map<string, Series>()
  readonly #fallbacks = new Map<string, number>()

  record(type: string, verb: string, seconds: number, code: number): void {
    const key = `${type}\0${verb}`
    let s = this.#series.get(key)
    if (s === undefined) this.#series.set(key, (s = new Series()))
    s.add(seconds, code)
  }

  fallback(reason: string): void {
    this.#fallbacks.set(reason, (this.#fallbacks.get(reason) ?? 0) + 1)
  }

  status(base: Omit<DaemonStatus, 'uptime_s' | 'fallbacks' | 'requests' | 'rss_bytes' | 'heap_used_bytes'>): DaemonStatus {
    const requests = [...this.#series.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, s]): SeriesStatus => {
      const [type = '', verb = ''] = key.split('\0')
      const p = s.percentiles()
      const ms = (v: number) => Math.round(v * 1e5) / 100
      return { type, verb, count: s.count, codes: Object.fromEntries(s.codes), p50_ms: ms(p.p50), p90_ms: ms(p.p90), p99_ms: ms(p.p99) }
    })
    const mem = process.memoryUsage()
    return {
      ...base,
      uptime_s: Math.round((Date.now() - this.started) / 1000),
      rss_bytes: mem.rss,
      heap_used_bytes: mem.heapUsed,
      fallbacks: Object.fromEntries(this.#fallbacks),
      requests,
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(st: DaemonStatus): string {
    const lines: string[] = []
    const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    const head = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    head('berth_daemon_build_info', 'gauge', 'The running build.')
    lines.push(`berth_daemon_build_info{build="${label(st.build)}",version="${label(st.version)}"} 1`)
    head('berth_daemon_uptime_seconds', 'gauge', 'Seconds since the daemon started.')
    lines.push(`berth_daemon_uptime_seconds ${st.uptime_s}`)
    head('berth_daemon_in_flight', 'gauge', 'Calls running now.')
    lines.push(`berth_daemon_in_flight ${st.in_flight}`)
    head('berth_daemon_queued', 'gauge', 'Calls waiting for a slot.')
    lines.push(`berth_daemon_queued ${st.queued}`)
    head('berth_daemon_resident_memory_bytes', 'gauge', 'Resident set size.')
    lines.push(`berth_daemon_resident_memory_bytes ${st.rss_bytes}`)
    head('berth_daemon_heap_used_bytes', 'gauge', 'V8 heap in use.')
    lines.push(`berth_daemon_heap_used_bytes ${st.heap_used_bytes}`)
    head('berth_daemon_worker_threads', 'gauge', 'Worker threads alive (each call runs on one).')
    lines.push(`berth_daemon_worker_threads ${st.workers.running}`)
    head('berth_daemon_worker_calls_total', 'counter', 'Calls run on worker threads.')
    lines.push(`berth_daemon_worker_calls_total ${st.workers.served}`)
    head('berth_daemon_fallbacks_total', 'counter', 'Calls handed back to the shim to run in a process of their own, by reason.')
    for (const [reason, n] of Object.entries(st.fallbacks)) lines.push(`berth_daemon_fallbacks_total{reason="${label(reason)}"} ${n}`)
    head('berth_daemon_requests_total', 'counter', 'Calls served, by CNI type, verb and result code (0: success).')
    for (const r of st.requests) {
      for (const [code, n] of Object.entries(r.codes)) lines.push(`berth_daemon_requests_total{type="${label(r.type)}",verb="${r.verb}",code="${code}"} ${n}`)
    }
    head('berth_daemon_request_duration_seconds', 'histogram', 'Time from a call being read to its answer, by CNI type and verb.')
    for (const [key, s] of this.#series) {
      const [type = '', verb = ''] = key.split('\0')
      const l = `type="${label(type)}",verb="${verb}"`
      BUCKETS.forEach((b, i) => lines.push(`berth_daemon_request_duration_seconds_bucket{${l},le="${b}"} ${s.buckets[i] ?? 0}`))
      lines.push(`berth_daemon_request_duration_seconds_bucket{${l},le="+Inf"} ${s.count}`)
      lines.push(`berth_daemon_request_duration_seconds_sum{${l}} ${s.sum}`)
      lines.push(`berth_daemon_request_duration_seconds_count{${l}} ${s.count}`)
    }
    return `${lines.join('\n')}\n`
  }
}
