// A registry renders its families in registration order. Collectors run just before a scrape
// (process metrics read /proc then, not on a timer).
import {Counter} from './counter.js'
import type {FamilyOptions} from './family.js'
import {Gauge} from './gauge.js'
import {Histogram, type HistogramOptions} from './histogram.js'

export interface Renderable {
  readonly name: string
  render(out: string[]): void
}

export type Collector = () => void

export class Registry {
  private readonly families = new Map<string, Renderable>()
  private readonly collectors: Collector[] = []

  register<T extends Renderable>(family: T): T {
    if (this.families.has(family.name)) throw new Error(`metric family ${family.name} is already registered`)
    this.families.set(family.name, family)
    return family
  }

  counter(options: FamilyOptions): Counter {
    return this.register(new Counter(options))
  }

  gauge(options: FamilyOptions): Gauge {
    return this.register(new Gauge(options))
  }

  histogram(options: HistogramOptions): Histogram {
    return this.register(new Histogram(options))
  }

  get(name: string): Renderable | undefined {
    return this.families.get(name)
  }

  addCollector(collect: Collector): void {
    this.collectors.push(collect)
  }

  /** The whole exposition, text format 0.0.4. */
  metrics(): string {
    for (const c of this.collectors) {
      try {
        c()
      } catch {
        // A collector that cannot read (no /proc) leaves its gauges as they were.
      }
    }
    const out: string[] = []
    for (const f of this.families.values()) f.render(out)
    return out.join('')
  }
}
