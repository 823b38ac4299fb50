import {Family} from './family.js'
import {formatValue} from './format.js'

export class CounterChild {
  value = 0
  inc(by = 1): void {
    if (by < 0) throw new Error('a counter only goes up')
    this.value += by
  }
}

export class Counter extends Family<CounterChild> {
  readonly type = 'counter'
  protected create(): CounterChild {
    return new CounterChild()
  }
  protected renderChild(labels: string, child: CounterChild, out: string[]): void {
    out.push(`${this.name}${labels} ${formatValue(child.value)}\n`)
  }
}
