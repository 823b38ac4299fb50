import {Family} from './family.js'
import {formatValue} from './format.js'

export class GaugeChild {
  value = 0
  set(v: number): void {
    this.value = v
  }
  inc(by = 1): void {
    this.value += by
  }
  dec(by = 1): void {
    this.value -= by
  }
}

export class Gauge extends Family<GaugeChild> {
  readonly type = 'gauge'
  protected create(): GaugeChild {
    return new GaugeChild()
  }
  protected renderChild(labels: string, child: GaugeChild, out: string[]): void {
    out.push(`${this.name}${labels} ${formatValue(child.value)}\n`)
  }
}
