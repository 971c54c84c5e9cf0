// A small SVG line-plot writer for the benchmarks' latency-vs-N tables: one or more panels side by side,
// each with axes, "nice" ticks, grid lines, a marker per point and a label at the end of every line, and
// one legend for all. No dependency: the output is a plain string any browser or image viewer renders.

export interface Series {
  name: string
  /** [x, y] points; a non-finite y leaves a gap (a side that failed at that N) */
  points: readonly (readonly [number, number])[]
  color: string
  /** stroke-dasharray, e.g. '6 4' */
  dash?: string
}

export interface Panel {
  title: string
  xLabel: string
  yLabel: string
  series: readonly Series[]
}

const PANEL_W = 470
const PANEL_H = 340
// inside a panel: room for the y tick labels and axis title on the left, the end labels on the right
const M = { left: 64, right: 118, top: 34, bottom: 52 }
const TITLE_H = 34
const LEGEND_H = 26
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fmt = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/0$/, ''))

/** Ticks at 1, 2, 2.5 or 5 times a power of ten, about `count` of them, the last one at or above `hi`. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const p = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw) ?? 10 * p) as number
  const out: number[] = []
  const last = Math.ceil(hi / step - 1e-9) * step
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= last + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/** Spreads label positions (sorted top to bottom) at least `gap` apart, keeping them near their wish. */
function spread(ys: number[], gap: number): number[] {
  const order = ys.map((y, i) => ({ y, i })).sort((a, b) => a.y - b.y)
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1] as { y: number }
    const cur = order[k] as { y: number }
    if (cur.y - prev.y < gap) cur.y = prev.y + gap
  }
  const out = new Array<number>(ys.length)
  for (const o of order) out[o.i] = o.y
  return out
}

function panelSvg(p: Panel, ox: number, oy: number, unit: string): string {
  const w = PANEL_W - M.left - M.right
  const h = PANEL_H - M.top - M.bottom
  const pts = p.series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)))
  const xs = pts.map(([x]) => x)
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  if (!(x1 > x0)) [x0, x1] = Number.isFinite(x0) ? [x0 - 1, x0 + 1] : [0, 1]
  const yTicks = niceTicks(0, Math.max(1e-9, ...pts.map(([, y]) => y)))
  const y1 = yTicks[yTicks.length - 1] as number
  const X = (x: number) => ox + M.left + ((x - x0) / (x1 - x0)) * w
  const Y = (y: number) => oy + M.top + h - (y / y1) * h
  const out: string[] = []
  out.push(`<text x="${ox + M.left + w / 2}" y="${oy + 20}" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`)
  // grid and y ticks
  for (const t of yTicks) {
    out.push(`<line x1="${X(x0)}" x2="${X(x1)}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e3e3e3"/>`)
    out.push(`<text x="${X(x0) - 7}" y="${Y(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`)
  }
  // x ticks: the measured Ns themselves (a handful), else nice ones
  const measured = [...new Set(xs)].sort((a, b) => a - b)
  const xTicks = measured.length >= 2 && measured.length <= 8 ? measured : niceTicks(x0, x1).filter((t) => t <= x1)
  for (const t of xTicks) {
    out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${Y(0)}" y2="${Y(0) + 5}" stroke="#333"/>`)
    out.push(`<text x="${X(t)}" y="${Y(0) + 18}" text-anchor="middle" font-size="11">${fmt(t)}</text>`)
  }
  // axes
  out.push(`<line x1="${X(x0)}" x2="${X(x1)}" y1="${Y(0)}" y2="${Y(0)}" stroke="#333"/>`)
  out.push(`<line x1="${X(x0)}" x2="${X(x0)}" y1="${Y(0)}" y2="${Y(y1)}" stroke="#333"/>`)
  out.push(`<text x="${X(x0) + w / 2}" y="${oy + PANEL_H - 12}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`)
  const yMid = oy + M.top + h / 2
  out.push(`<text x="${ox + 16}" y="${yMid}" text-anchor="middle" font-size="12" transform="rotate(-90 ${ox + 16} ${yMid})">${esc(p.yLabel)}</text>`)
  // lines, markers, end labels
  const ends: { s: Series; x: number; y: number; v: number }[] = []
  for (const s of p.series) {
    const good = s.points.filter(([, y]) => Number.isFinite(y))
    // a gap at a non-finite point: one polyline per finite run
    let run: string[] = []
    const flush = () => {
      if (run.length > 1) out.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
      run = []
    }
    for (const [x, y] of s.points) {
      if (Number.isFinite(y)) run.push(`${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      else flush()
    }
    flush()
    for (const [x, y] of good) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(`${s.name}: ${fmt(y)} ${unit} at ${fmt(x)}`)}</title></circle>`)
    const last = good[good.length - 1]
    if (last) ends.push({ s, x: X(last[0]), y: Y(last[1]), v: last[1] })
  }
  const labelY = spread(
    ends.map((e) => e.y),
    14,
  )
  ends.forEach((e, i) => {
    const ly = labelY[i] as number
    out.push(`<text x="${e.x + 8}" y="${ly + 4}" font-size="11" fill="${e.s.color}">${esc(`${e.s.name} ${fmt(e.v)}`)}</text>`)
  })
  return out.join('\n')
}

/** A whole SVG document: a title, a legend of every series name, then the panels left to right. */
export function linePlotSvg(title: string, panels: readonly Panel[], unit = 'ms'): string {
  const width = PANEL_W * panels.length
  const height = TITLE_H + LEGEND_H + PANEL_H
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ]
  const names = new Map<string, Series>()
  for (const p of panels) for (const s of p.series) if (!names.has(s.name)) names.set(s.name, s)
  let lx = 20
  for (const s of names.values()) {
    const y = TITLE_H + 12
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    out.push(`<text x="${lx + 32}" y="${y + 4}" font-size="12">${esc(s.name)}</text>`)
    lx += 32 + 7.5 * s.name.length + 28
  }
  panels.forEach((p, i) => out.push(panelSvg(p, i * PANEL_W, TITLE_H + LEGEND_H, unit)))
  out.push('</svg>', '')
  return out.join('\n')
}
