// Histograms keep per-bucket counts (not cumulative) so observe() touches one slot; the
// cumulative `_bucket{le=...}` series, `_sum` and `_count` are computed when scraped.
import {Family, type FamilyOptions} from './family.js'
import {formatValue} from './format.js'

export class HistogramChild {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }
  observe(v: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && v > b[i]) i++
    this.counts[i]++
    this.sum += v
    this.count++
  }
}

export interface HistogramOptions extends FamilyOptions {
  /** Upper bounds, strictly increasing; +Inf is implied. */
  buckets: readonly number[]
}

export class Histogram extends Family<HistogramChild> {
  readonly type = 'histogram'
  readonly buckets: readonly number[]
  private readonly leLabels: string[]

  constructor(options: HistogramOptions) {
    super(options)
    if (this.labelNames.includes('le')) throw new Error(`${options.name}: "le" is reserved in histograms`)
    const b = options.buckets.filter((x) => x !== Infinity)
    for (let i = 1; i < b.length; i++) {
      if (!(b[i] > b[i - 1])) throw new Error(`${options.name}: buckets must be strictly increasing`)
    }
    this.buckets = b
    this.leLabels = [...b.map((x) => `le="${formatValue(x)}"`), 'le="+Inf"']
  }

  protected create(): HistogramChild {
    return new HistogramChild(this.buckets)
  }

  protected renderChild(labels: string, child: HistogramChild, out: string[]): void {
    // labels is `{a="x"}` or ''; the le label goes last, inside the same braces.
    const open = labels === '' ? '{' : `${labels.slice(0, -1)},`
    let cumulative = 0
    for (let i = 0; i < this.leLabels.length; i++) {
      cumulative += child.counts[i]
      out.push(`${this.name}_bucket${open}${this.leLabels[i]}} ${formatValue(cumulative)}\n`)
    }
    out.push(`${this.name}_sum${labels} ${formatValue(child.sum)}\n`)
    out.push(`${this.name}_count${labels} ${formatValue(child.count)}\n`)
  }
}
