// The injector's metrics, exposed on the controller's admin /metrics.
import {Registry, type Counter} from '../../metrics/index.js'

export interface InjectorMetrics {
  /** result: injected | skipped | ignored (not a Pod CREATE) | failed | bad_request */
  requests: Counter
  /** stage: config | namespace | inject | request */
  failures: Counter
}

export function injectorMetrics(registry = new Registry()): InjectorMetrics {
  return {
    requests: registry.counter({name: 'mesh_injector_requests_total', help: 'Admission reviews answered by the proxy injector, by result.', labelNames: ['result']}),
    failures: registry.counter({name: 'mesh_injector_failures_total', help: 'Admission reviews admitted without injection because something failed (fail open), by stage.', labelNames: ['stage']}),
  }
}
