// Protocol detection timeouts by the port they happened on (inbound: the original destination's;
// outbound: the authority's), so `mesh check --proxy` and `mesh explain` can name the port to mark
// opaque. The ports come from the network: past the family's bound every new port is counted
// under port="other".
import type {Direction} from '../protocol/tap.js'
import type {Counter, CounterChild} from './counter.js'
import {DEFAULT_MAX_SERIES} from './family.js'
import type {Registry} from './registry.js'

export const DETECT_TIMEOUTS_FAMILY = 'mesh_proxy_detect_timeouts_total'

export class DetectTimeouts {
  private readonly family: Counter
  private readonly other: Record<Direction, CounterChild>

  constructor(registry: Registry, private readonly maxSeries = DEFAULT_MAX_SERIES) {
    // Two series are kept for port="other" (one per direction), so the bound holds with them.
    this.family = registry.counter({
      name: DETECT_TIMEOUTS_FAMILY,
      help: 'Connections closed because they sent nothing recognisable within the detect timeout, by direction and target port (inbound: the original destination; outbound: the authority); ports past the series bound count as port="other". Mark such ports opaque.',
      labelNames: ['direction', 'port'],
      maxSeries: Math.max(2, maxSeries),
    })
    this.other = {inbound: this.family.labels('inbound', 'other'), outbound: this.family.labels('outbound', 'other')}
  }

  count(direction: Direction, port: number): void {
    const values = [direction, String(port)]
    if (this.family.has(values) || this.family.size < this.maxSeries) this.family.child(values).inc()
    else this.other[direction].inc()
  }
}
