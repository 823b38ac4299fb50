// A workload's routes from the control plane: for each Service it sends requests to, the
// HTTPRoutes and GRPCRoutes its proxies apply (`mesh routes svc/<name>`: the objects and their
// status) with the numbers per route and per backend (`mesh stat <workload> --routes --to
// svc/<name>`), read by the server with the CLI's own calls (/api/routes) at each refresh. Then
// the routes of the Services it serves, with what their callers sent them per route (`mesh stat
// svc/<name> --routes`): the same read names them.
import {useEffect, useState} from 'preact/hooks'
import type {RouteReport} from '../../routes/command.js'
import type {RouteNumbers, RouteStatRow} from '../../stat/types.js'
import type {ServiceRoutes, ShownError, WorkloadRoutes} from '../types.js'
import {ErrorBox} from './common.js'
import {ms, pct, rps} from './format.js'
import {getJson} from './live.js'

const value = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v))

/** Success, RPS, latency and requests of a route or a backend, each cell carrying its raw number. */
function Numbers({n}: {n: RouteNumbers}) {
  return (
    <>
      <td data-col="success" data-value={value(n.successRate)}>{pct(n.successRate)}</td>
      <td data-col="rps" data-value={value(n.rps)}>{rps(n.rps)}</td>
      <td data-col="p50" data-value={value(n.latencyMs.p50)}>{ms(n.latencyMs.p50)}</td>
      <td data-col="p95" data-value={value(n.latencyMs.p95)}>{ms(n.latencyMs.p95)}</td>
      <td data-col="p99" data-value={value(n.latencyMs.p99)}>{ms(n.latencyMs.p99)}</td>
      <td data-col="requests" data-value={value(n.requests)}>{n.requests}</td>
    </>
  )
}

/** The controller's Accepted condition for the Service, as `mesh routes` prints it. */
function Status({route}: {route: RouteReport | undefined}) {
  if (!route) return <td data-col="status" data-value="">-</td>
  const accepted = route.conditions.find((c) => c.type === 'Accepted')
  const problem = route.problem ?? (route.conditions.find((c) => c.status === 'False')?.message ?? '')
  if (!route.compiled || accepted?.status === 'False') {
    return <td data-col="status" data-value="refused"><span class="badge bad" title={problem}>refused{accepted ? ` (${accepted.reason})` : ''}</span></td>
  }
  if (!accepted) return <td data-col="status" data-value="pending"><span class="badge warn">not yet</span></td>
  return <td data-col="status" data-value="accepted"><span class="badge ok" title={problem}>accepted</span></td>
}

const routeName = (r: Pick<RouteStatRow, 'routeKind' | 'route'>): string => (r.routeKind === 'default' ? '[default]' : r.route)
const port = (r: RouteStatRow): string => (r.service ? String(r.service.port) : '-')
const HEAD = ['Route', 'Kind', 'Port', 'Status', 'Success', 'RPS', 'P50', 'P95', 'P99', 'Requests']

function ServiceTable({s, testid = 'cp-routes'}: {s: ServiceRoutes; testid?: string}) {
  const {namespace, name} = s.service
  const objects = s.routes?.routes ?? []
  const objectOf = (r: RouteStatRow): RouteReport | undefined => objects.find((o) => o.kind === r.routeKind && o.name === r.route)
  // Route objects with no row of numbers: not in force (refused, or not compiled for this Service).
  const unnumbered = objects.filter((o) => !s.stat.some((r) => r.routeKind === o.kind && r.route === o.name))
  return (
    <section aria-label={`routes of svc/${name}`}>
      <h3>svc/{name} <span class="muted">in {namespace}</span></h3>
      {s.statError && <ErrorBox error={s.statError} what={`The numbers per route of svc/${name} could not be read`} />}
      {s.routesError && <ErrorBox error={s.routesError} what={`The route objects of svc/${name} could not be read`} />}
      {s.routes?.missingCrds.map((k) => <p class="note" key={k}>The {k} CRD is not installed: no {k}s apply.</p>)}
      <table class="data" data-testid={testid} data-service={`${namespace}/${name}`}>
        <thead><tr>{HEAD.map((h) => <th scope="col" key={h}>{h}</th>)}</tr></thead>
        <tbody>
          {s.stat.map((r) => {
            const key = `${r.authority}|${r.routeKind}|${r.route}`
            return [
              <tr key={key} data-route={key}>
                <th scope="row">{routeName(r)}</th><td>{r.routeKind === 'default' ? '-' : r.routeKind}</td><td>{port(r)}</td>
                {r.routeKind === 'default' ? <td data-col="status" data-value="">-</td> : <Status route={objectOf(r)} />}
                <Numbers n={r} />
              </tr>,
              ...r.backends.map((b) => (
                <tr key={`${key}|${b.backend}`} class="backend" data-backend={`${key}|${b.backend}`}>
                  <th scope="row" class="muted">→ {b.backend}</th><td>backend</td><td /><td />
                  <Numbers n={b} />
                </tr>
              )),
            ]
          })}
          {unnumbered.map((o) => (
            <tr key={`|${o.kind}|${o.name}`} data-route={`|${o.kind}|${o.name}`}>
              <th scope="row">{o.name}</th><td>{o.kind}</td><td>-</td><Status route={o} /><td colSpan={6} class="muted">not in force: {o.problem ?? 'see its status'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

export function ControlPlaneRoutes({namespace, resource, refresh}: {namespace: string; resource: string; refresh: number}) {
  const [data, setData] = useState<WorkloadRoutes | undefined>(undefined)
  const [failed, setFailed] = useState<ShownError | undefined>(undefined)
  useEffect(() => {
    let gone = false
    getJson<WorkloadRoutes>(`/api/routes?${new URLSearchParams({namespace, resource}).toString()}`).then(
      (r) => gone || (setData(r), setFailed(undefined)),
      (err: unknown) => gone || setFailed({message: err instanceof Error ? err.message : String(err), suggestions: []}),
    )
    return () => void (gone = true)
  }, [namespace, resource, refresh])
  const mine = data && data.namespace === namespace && data.resource === resource ? data : undefined
  return (
    <>
      <section aria-label="routes" data-testid="routes" data-read-at={mine?.time}>
        <h2>Routes</h2>
        <p class="note">
          The HTTPRoutes and GRPCRoutes of the Services it sends requests to, as its proxies apply them, over the last {mine?.window ?? '…'}
          {' '}(<code>mesh routes svc/&lt;name&gt;</code> and <code>mesh stat {resource} --routes --to svc/&lt;name&gt;</code>);
          [default]: its requests no route took. The routes of the Services it serves are applied by their callers' proxies: below, and on the callers' pages.
        </p>
        {failed && <ErrorBox error={failed} what="The routes could not be read" />}
        {mine?.error && <ErrorBox error={mine.error} what="The control plane refused or did not answer" />}
        {!mine ? (
          !failed && <p class="loading" role="status">Reading the routes…</p>
        ) : mine.error ? null : mine.services.length === 0 && mine.other.length === 0 ? (
          <p>No requests from it to a Service in the last {mine.window}.</p>
        ) : (
          <>
            {mine.services.map((s) => <ServiceTable key={`${s.service.namespace}/${s.service.name}`} s={s} />)}
            {mine.omitted > 0 && <p class="note">{mine.omitted} more Services not shown.</p>}
            {mine.other.length > 0 && (
              <section aria-label="destinations that are not Services">
                <h3>Not Services <span class="muted">(no route applies)</span></h3>
                <table class="data" data-testid="cp-routes-other">
                  <thead><tr><th scope="col">Destination</th><th scope="col">Success</th><th scope="col">RPS</th><th scope="col">P50</th><th scope="col">P95</th><th scope="col">P99</th><th scope="col">Requests</th></tr></thead>
                  <tbody>
                    {mine.other.map((r) => (
                      <tr key={r.authority} data-route={`${r.authority}|${r.routeKind}|${r.route}`}><th scope="row">{r.authority}</th><Numbers n={r} /></tr>
                    ))}
                  </tbody>
                </table>
              </section>
            )}
            {mine.podErrors.length > 0 && <p class="note">Metrics unavailable for {mine.podErrors.map((e) => `${e.pod} (${e.error})`).join(', ')}</p>}
          </>
        )}
      </section>
      {mine && !mine.error && <ServedRoutes routes={mine} />}
    </>
  )
}

/** The routes of the Services whose endpoints are the workload's pods, as their callers' proxies counted them. */
function ServedRoutes({routes}: {routes: WorkloadRoutes}) {
  return (
    <section aria-label="routes of the Services it serves" data-testid="served-routes" data-read-at={routes.time}>
      <h2>Routes of the Services it serves</h2>
      <p class="note">
        The HTTPRoutes and GRPCRoutes of the Services whose endpoints are its pods, with the requests their callers sent them over the last {routes.window}
        {' '}(<code>mesh stat svc/&lt;name&gt; --routes</code>): its callers' proxies apply them and count them.
      </p>
      {routes.served.length === 0 ? (
        <p>No Service has its pods as endpoints.</p>
      ) : (
        routes.served.map((s) => <ServiceTable key={`${s.service.namespace}/${s.service.name}`} s={s} testid="served-routes-service" />)
      )}
      {routes.servedOmitted > 0 && <p class="note">{routes.servedOmitted} more Services not shown.</p>}
    </section>
  )
}
