// What `mesh stat` and the tap server need from parsed metrics: sums grouped by labels, and
// PromQL's histogram_quantile over cumulative buckets.
import type {MetricFamily, Sample} from './parse.js'

export type LabelFilter = (labels: Record<string, string>) => boolean

export interface Group<T> {
  labels: Record<string, string>
  value: T
}

/** One group's key: the values of `by`'s labels, in order (a missing label counts as empty). */
export function groupKey(labels: Record<string, string>, by: readonly string[]): string {
  return by.map((l) => labels[l] ?? '').join('\u0000')
}

export function pick(labels: Record<string, string>, by: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const l of by) if (labels[l] !== undefined) out[l] = labels[l]
  return out
}

/** sum by (by) (name{filter}): sums the samples named `sampleName` in the family. */
export function sumBy(family: MetricFamily | undefined, by: readonly string[] = [], filter?: LabelFilter, sampleName?: string): Group<number>[] {
  const groups = new Map<string, Group<number>>()
  for (const s of family?.samples ?? []) {
    if (s.name !== (sampleName ?? family!.name) || (filter && !filter(s.labels))) continue
    const key = groupKey(s.labels, by)
    const g = groups.get(key)
    if (g) g.value += s.value
    else groups.set(key, {labels: pick(s.labels, by), value: s.value})
  }
  return [...groups.values()]
}

/** sum(name{filter}) as one number: undefined when no sample passes `filter`. */
export function sumOf(family: MetricFamily | undefined, filter: LabelFilter): number | undefined {
  return sumBy(family, [], filter)[0]?.value
}

export interface Bucket {
  le: number
  count: number
}

/** sum by (by, le) (x_bucket{filter}), as sorted bucket lists per group. */
export function histogramBuckets(family: MetricFamily | undefined, by: readonly string[] = [], filter?: LabelFilter): Group<Bucket[]>[] {
  const groups = new Map<string, {labels: Record<string, string>; byLe: Map<number, number>}>()
  for (const {le, sample} of bucketSamples(family, filter)) {
    const key = groupKey(sample.labels, by)
    let g = groups.get(key)
    if (!g) groups.set(key, (g = {labels: pick(sample.labels, by), byLe: new Map()}))
    g.byLe.set(le, (g.byLe.get(le) ?? 0) + sample.value)
  }
  return [...groups.values()].map((g) => ({
    labels: g.labels,
    value: [...g.byLe].map(([le, count]) => ({le, count})).sort((a, b) => a.le - b.le),
  }))
}

/**
 * A histogram family's `_bucket` samples that pass the filter, each with its upper bound parsed
 * (`+Inf` is Infinity); a sample whose `le` is not a number is skipped.
 */
export function* bucketSamples(family: MetricFamily | undefined, filter?: LabelFilter): Generator<{le: number; sample: Sample}> {
  const bucketName = `${family?.name}_bucket`
  for (const sample of family?.samples ?? ([] as Sample[])) {
    if (sample.name !== bucketName || (filter && !filter(sample.labels))) continue
    const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le)
    if (!Number.isNaN(le)) yield {le, sample}
  }
}

/**
 * PromQL's histogram_quantile: linear interpolation inside the bucket holding the q-th rank;
 * the lower bound of the first bucket is 0 (when its upper bound is positive); a rank in the
 * +Inf bucket answers the highest finite bound. NaN without data or without a +Inf bucket.
 */
export function histogramQuantile(q: number, input: readonly Bucket[]): number {
  if (Number.isNaN(q)) return NaN
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  const buckets = [...input].sort((a, b) => a.le - b.le)
  if (buckets.length < 2 || buckets[buckets.length - 1].le !== Infinity) return NaN
  // Scrapes of several proxies can be momentarily non-monotonic: clamp like Prometheus does.
  for (let i = 1; i < buckets.length; i++) {
    if (buckets[i].count < buckets[i - 1].count) buckets[i] = {le: buckets[i].le, count: buckets[i - 1].count}
  }
  const total = buckets[buckets.length - 1].count
  if (total === 0) return NaN
  let rank = q * total
  let b = buckets.findIndex((x) => x.count >= rank)
  if (b < 0) b = buckets.length - 1
  if (b === buckets.length - 1) return buckets[buckets.length - 2].le
  if (b === 0 && buckets[0].le <= 0) return buckets[0].le
  let start = 0
  let count = buckets[b].count
  if (b > 0) {
    start = buckets[b - 1].le
    count -= buckets[b - 1].count
    rank -= buckets[b - 1].count
  }
  return start + (buckets[b].le - start) * (rank / count)
}
