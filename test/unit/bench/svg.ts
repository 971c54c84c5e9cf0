// bench/lib/svg.ts: the tick choice and what a plot carries (every series' name and points, gaps where a
// side did not run, text escaped), so a benchmark's plot cannot silently lose a line.
import t from 'tap'
import { linePlotSvg, niceTicks } from '../../../bench/lib/svg.js'

t.test('niceTicks: steps of 1, 2, 2.5 or 5 times a power of ten, the last at or above the top', async (t) => {
  t.same(niceTicks(0, 977), [0, 200, 400, 600, 800, 1000])
  t.same(niceTicks(0, 1100), [0, 250, 500, 750, 1000, 1250])
  t.same(niceTicks(0, 4.2), [0, 1, 2, 3, 4, 5])
  t.same(niceTicks(0, 0.3), [0, 0.1, 0.2, 0.3], 'no float dust')
  t.same(niceTicks(5, 5), [5], 'an empty range: one tick')
})

t.test('linePlotSvg: panels, legend, one marker per finite point, a gap for a missing one', async (t) => {
  const series = [
    { name: 'berth+daemon', color: '#1b7f3b', points: [[0, 4.1], [250, 4.3], [1000, 4.6]] as const },
    { name: 'a<b & "c"', color: '#3b5bdb', dash: '7 4', points: [[0, 30], [250, NaN], [1000, 41]] as const },
  ]
  const svg = linePlotSvg('title & more', [
    { title: 'ADD', xLabel: 'N', yLabel: 'ms', series },
    { title: 'DEL', xLabel: 'N', yLabel: 'ms', series },
  ])
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="940"/)
  t.match(svg, /<\/svg>\n$/)
  t.match(svg, 'title &amp; more')
  t.match(svg, 'a&lt;b &amp; &quot;c&quot;')
  t.notMatch(svg, 'a<b', 'no raw markup from a name')
  t.equal(svg.match(/<circle /g)?.length, 2 * (3 + 2), 'a marker per finite point in each panel')
  // berth+daemon: one polyline per panel; the other: the NaN splits it into single points, drawn as markers only
  t.equal(svg.match(/<polyline /g)?.length, 2)
  t.equal(svg.match(/stroke-dasharray="7 4"/g)?.length, 1, 'the dash shows in the legend (no polyline of 2+ points for that series)')
  for (const label of ['berth+daemon 4.6', 'a&lt;b &amp; &quot;c&quot; 41']) t.equal(svg.split(label).length - 1, 2, `end label ${label} in both panels`)
  t.equal(svg.match(/<text [^>]*>0<\/text>/g)?.length, 4, 'the x tick 0 and the y tick 0 in each panel')
})
