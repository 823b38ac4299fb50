// The proxy's reliability families: retries the sides wanted, made or denied by the retry budget,
// endpoints ejected by failure accrual, and how first requests' waits for a route policy ended. Named like the proxy's own families (mesh_proxy_*):
// Linkerd's route-level retry families carry route objects this proxy does not have. Every
// series exists from the start at 0.
import type {Direction} from '../protocol/tap.js'
import type {RetryOutcome, RoutesWaitOutcome} from '../proxy/core/observe.js'
import type {CounterChild} from './counter.js'
import type {Registry} from './registry.js'

export const RETRIES_FAMILY = 'mesh_proxy_retries_total'
export const EJECTIONS_FAMILY = 'mesh_proxy_endpoint_ejections_total'
export const ROUTE_POLICY_WAITS_FAMILY = 'mesh_proxy_route_policy_waits_total'

const DIRECTIONS: Direction[] = ['inbound', 'outbound']
const OUTCOMES: RetryOutcome[] = ['retried', 'budget_exhausted']
const WAIT_OUTCOMES: RoutesWaitOutcome[] = ['arrived', 'timeout']

export interface ReliabilityFamilies {
  retries: Record<Direction, Record<RetryOutcome, CounterChild>>
  ejections: Record<Direction, CounterChild>
  routePolicyWaits: Record<RoutesWaitOutcome, CounterChild>
}

export function registerReliabilityFamilies(registry: Registry): ReliabilityFamilies {
  const retries = registry.counter({
    name: RETRIES_FAMILY,
    help: 'Retries the proxy wanted, by direction and outcome (retried: sent again; budget_exhausted: not sent, the retry budget was spent).',
    labelNames: ['direction', 'outcome'],
  })
  const ejections = registry.counter({
    name: EJECTIONS_FAMILY,
    help: 'Endpoints ejected from load balancing after consecutive failures (failure accrual), by direction.',
    labelNames: ['direction'],
  })
  const waits = registry.counter({
    name: ROUTE_POLICY_WAITS_FAMILY,
    help: 'First requests to a Service that waited for its route policy, by how the wait ended (arrived: the control plane answered; timeout: the request took the default route).',
    labelNames: ['outcome'],
  })
  const byOutcome = (d: Direction) => Object.fromEntries(OUTCOMES.map((o) => [o, retries.labels(d, o)])) as Record<RetryOutcome, CounterChild>
  return {
    retries: Object.fromEntries(DIRECTIONS.map((d) => [d, byOutcome(d)])) as ReliabilityFamilies['retries'],
    ejections: Object.fromEntries(DIRECTIONS.map((d) => [d, ejections.labels(d)])) as ReliabilityFamilies['ejections'],
    routePolicyWaits: Object.fromEntries(WAIT_OUTCOMES.map((o) => [o, waits.labels(o)])) as ReliabilityFamilies['routePolicyWaits'],
  }
}
