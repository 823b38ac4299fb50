// Windows over scraped counters without a Prometheus: each pod's current scrape against a
// baseline, the oldest kept scrape inside the window, or zero at the proxy's start when the
// proxy is younger than the window. A counter that went down (proxy restart) restarts from 0.
import type {MetricFamily} from '../metrics/parse.js'
import {bucketSamples, groupKey, pick, sumBy, type Bucket, type Group, type LabelFilter} from '../metrics/query.js'

export interface Scrape {
  /** ms since the epoch */
  at: number
  families: Map<string, MetricFamily>
}

export interface PodWindow {
  current: Scrape
  /** undefined: counters count from zero at `baselineAt` (the proxy's start). */
  baseline?: Scrape
  baselineAt: number
}

/** The proxy's start (process_start_time_seconds), in ms, if exposed. */
export function proxyStartMs(s: Scrape): number | undefined {
  const v = s.families.get('process_start_time_seconds')?.samples[0]?.value
  return v !== undefined && Number.isFinite(v) && v > 0 ? v * 1000 : undefined
}

/** Picks the baseline for a window of `windowMs` ending at current.at from the pod's history (oldest first). */
export function windowFor(history: readonly Scrape[], current: Scrape, windowMs: number): PodWindow {
  const from = current.at - windowMs
  const start = proxyStartMs(current)
  if (start !== undefined && start >= from) return {current, baselineAt: Math.min(start, current.at)}
  const base = history.find((s) => s.at >= from && s.at < current.at && sameProcess(s, current))
  if (base) return {current, baseline: base, baselineAt: base.at}
  // No history reaches back: the counters since the proxy's start are the best we have.
  return {current, baselineAt: start ?? current.at}
}

function sameProcess(a: Scrape, b: Scrape): boolean {
  const sa = proxyStartMs(a)
  const sb = proxyStartMs(b)
  return sa === undefined || sb === undefined || Math.abs(sa - sb) < 1000
}

export function seconds(w: PodWindow): number {
  return Math.max(0, (w.current.at - w.baselineAt) / 1000)
}

/** Δ sum(family{filter}) over the window: each series' Δ, summed (deltaBy). */
export function deltaSum(w: PodWindow, name: string, filter?: LabelFilter): number {
  return deltaBy(w, name, [], filter)[0]?.value ?? 0
}

function total(s: Scrape, name: string, filter?: LabelFilter): number {
  return sumBy(s.families.get(name), [], filter).reduce((a, g) => a + g.value, 0)
}

/** Current value of a gauge, summed. */
export function gaugeSum(s: Scrape, name: string, filter?: LabelFilter): number {
  return total(s, name, filter)
}

/** Δ of a histogram's cumulative buckets over the window: each series' Δ, summed (deltaBucketsBy). */
export function deltaBuckets(w: PodWindow, name: string, filter?: LabelFilter): Bucket[] {
  return deltaBucketsBy(w, name, [], filter)[0]?.value ?? []
}

/** Adds bucket lists (same bounds or not) into one cumulative list. */
export function addBuckets(lists: readonly Bucket[][]): Bucket[] {
  const byLe = new Map<number, number>()
  for (const list of lists) for (const b of list) byLe.set(b.le, (byLe.get(b.le) ?? 0) + b.count)
  return [...byLe].map(([le, count]) => ({le, count})).sort((a, b) => a.le - b.le)
}

/**
 * Δ sum by (by) (family{filter}) over the window, per group: each series' Δ, then summed (as
 * Prometheus' increase() is per series). A series whose counter went down (it restarted) counts
 * from zero; one the baseline lacks counts whole; one gone since the baseline counts nothing. Summed
 * first, a restarted series beside one that grew more hid its restart (its old count was taken
 * off the other's), and a series gone since looked like a restart of its group.
 */
export function deltaBy(w: PodWindow, name: string, by: readonly string[], filter?: LabelFilter): Group<number>[] {
  const then = new Map<string, number>()
  for (const s of w.baseline?.families.get(name)?.samples ?? []) {
    if (s.name === name && (!filter || filter(s.labels))) then.set(seriesKey(s.labels), s.value)
  }
  const groups = new Map<string, Group<number>>()
  for (const s of w.current.families.get(name)?.samples ?? []) {
    if (s.name !== name || (filter && !filter(s.labels))) continue
    const before = then.get(seriesKey(s.labels)) ?? 0
    const d = s.value >= before ? s.value - before : s.value
    const key = groupKey(s.labels, by)
    const g = groups.get(key)
    if (g) g.value += d
    else groups.set(key, {labels: pick(s.labels, by), value: d})
  }
  return [...groups.values()]
}

/** A series' identity: all its labels, in name order. */
function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]))
}

/**
 * Δ of a histogram's cumulative buckets over the window, per group of `by`: each series' Δ (a
 * series is its labels but `le`), then summed by bound, as deltaBy does for counters. A series
 * any of whose buckets went down (it restarted) counts from zero; one the baseline lacks counts
 * whole; one gone since the baseline counts nothing.
 */
export function deltaBucketsBy(w: PodWindow, name: string, by: readonly string[], filter?: LabelFilter): Group<Bucket[]>[] {
  const then = w.baseline ? bucketSeries(w.baseline, name, filter) : new Map<string, BucketSeries>()
  const groups = new Map<string, {labels: Record<string, string>; byLe: Map<number, number>}>()
  for (const [key, s] of bucketSeries(w.current, name, filter)) {
    const before = then.get(key)?.byLe
    const restarted = before !== undefined && [...s.byLe].some(([le, count]) => count < (before.get(le) ?? 0))
    const gk = groupKey(s.labels, by)
    let g = groups.get(gk)
    if (!g) groups.set(gk, (g = {labels: pick(s.labels, by), byLe: new Map()}))
    for (const [le, count] of s.byLe) g.byLe.set(le, (g.byLe.get(le) ?? 0) + (before && !restarted ? count - (before.get(le) ?? 0) : count))
  }
  return [...groups.values()].map((g) => ({labels: g.labels, value: [...g.byLe].map(([le, count]) => ({le, count})).sort((a, b) => a.le - b.le)}))
}

interface BucketSeries { labels: Record<string, string>; byLe: Map<number, number> }

/** A histogram's buckets by series (all labels but `le`). */
function bucketSeries(s: Scrape, name: string, filter?: LabelFilter): Map<string, BucketSeries> {
  const out = new Map<string, BucketSeries>()
  for (const {le, sample} of bucketSamples(s.families.get(name), filter)) {
    const {le: _le, ...labels} = sample.labels
    const key = seriesKey(labels)
    let series = out.get(key)
    if (!series) out.set(key, (series = {labels, byLe: new Map()}))
    series.byLe.set(le, (series.byLe.get(le) ?? 0) + sample.value)
  }
  return out
}

