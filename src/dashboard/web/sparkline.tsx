// A small line of the last hour's values (drawn, not a library: one SVG polyline).
import type {HistoryPoint} from '../types.js'

export function Sparkline({points, pick, label}: {points: HistoryPoint[]; pick: (p: HistoryPoint) => number | null; label: string}) {
  const values = points.map((p) => ({t: p.t, v: pick(p)})).filter((p): p is {t: number; v: number} => p.v !== null)
  const w = 96
  const h = 22
  if (values.length < 2) return <span class="spark-empty" aria-label={`${label}: not enough history yet`}>·</span>
  const t0 = values[0]!.t
  const t1 = values.at(-1)!.t
  const lo = Math.min(...values.map((p) => p.v))
  const hi = Math.max(...values.map((p) => p.v))
  const x = (t: number): number => (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (w - 2) + 1)
  const y = (v: number): number => (hi === lo ? h / 2 : h - 2 - ((v - lo) / (hi - lo)) * (h - 4))
  const minutes = Math.max(1, Math.round((t1 - t0) / 60_000))
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label} over the last ${minutes} min`}>
      <polyline points={values.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')} />
    </svg>
  )
}
