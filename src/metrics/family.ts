// A metric family: a name, help, fixed label names, and one child per distinct label set.
// Children are cached in a Map keyed by the joined label values, so the hot path looks a child
// up once (per connection or route) and then only bumps numbers. The number of children is
// capped: a family fed from network input (authorities) cannot grow without bound.
import {assertLabelName, assertMetricName, header, renderLabels} from './format.js'

export const DEFAULT_MAX_SERIES = 10_000
const SEP = '\u0000'

export interface FamilyOptions {
  name: string
  help: string
  labelNames?: readonly string[]
  /** Children beyond this are not exported (their updates go to a detached child). */
  maxSeries?: number
}

export abstract class Family<C> {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly maxSeries: number
  /** Label sets refused because the family was full. */
  overflow = 0
  protected readonly children = new Map<string, {labels: string; child: C}>()
  private detached: C | undefined

  abstract readonly type: 'counter' | 'gauge' | 'histogram'

  constructor(options: FamilyOptions) {
    assertMetricName(options.name)
    for (const l of options.labelNames ?? []) assertLabelName(l)
    this.name = options.name
    this.help = options.help
    this.labelNames = options.labelNames ?? []
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
  }

  protected abstract create(): C
  protected abstract renderChild(labels: string, child: C, out: string[]): void

  /** The child for these label values (in labelNames order), created on first use. */
  labels(...values: string[]): C {
    return this.child(values)
  }

  child(values: readonly string[]): C {
    const key = this.keyOf(values)
    const hit = this.children.get(key)
    if (hit) return hit.child
    if (this.children.size >= this.maxSeries) {
      this.overflow++
      return (this.detached ??= this.create())
    }
    const child = this.create()
    this.children.set(key, {labels: renderLabels(this.labelNames, values), child})
    return child
  }

  /** Whether these label values have a series. */
  has(values: readonly string[]): boolean {
    return this.children.has(this.keyOf(values))
  }

  /** Drops the series of these label values (its subject is gone, e.g. an endpoint left discovery). */
  remove(values: readonly string[]): void {
    this.children.delete(this.keyOf(values))
  }

  private keyOf(values: readonly string[]): string {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`)
    }
    return values.length === 1 ? values[0]! : values.join(SEP)
  }

  /** Drops every child (e.g. tests, or a reset of the proxy's metrics). */
  reset(): void {
    this.children.clear()
  }

  get size(): number {
    return this.children.size
  }

  render(out: string[]): void {
    out.push(header(this.name, this.help, this.type))
    for (const {labels, child} of this.children.values()) this.renderChild(labels, child, out)
  }
}
