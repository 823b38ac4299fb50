// Namespaces and workloads: `mesh stat` in a table, with the meshed badge, mTLS coverage and the trend.
import type {Snapshot} from '../types.js'
import {MeshedBadge, workloadHref} from './common.js'
import {ms, pct, rps} from './format.js'
import {Sparkline} from './sparkline.js'

export function WorkloadsView({snapshot}: {snapshot: Snapshot}) {
  return (
    <>
      <h1>Workloads</h1>
      <p class="note">
        Over the last {snapshot.window}, as <code>mesh stat</code> reads them from the proxies{snapshot.allNamespaces ? ', every namespace' : `, namespace ${snapshot.namespace}`}. mTLS: the share of the workload's requests and connections
        that were mTLS since its proxies started.
      </p>
      <h2>Namespaces</h2>
      <table class="data" aria-label="namespaces">
        <thead>
          <tr>
            <th scope="col">Namespace</th><th scope="col">Meshed</th><th scope="col">Success</th><th scope="col">RPS</th><th scope="col">P50</th><th scope="col">P95</th><th scope="col">P99</th>
          </tr>
        </thead>
        <tbody>
          {snapshot.namespaces.map((n) => (
            <tr key={n.name} data-namespace={n.name}>
              <th scope="row">{n.name}</th>
              <td><MeshedBadge w={n} /></td>
              <td>{pct(n.successRate)}</td><td>{rps(n.rps)}</td><td>{ms(n.latencyMs.p50)}</td><td>{ms(n.latencyMs.p95)}</td><td>{ms(n.latencyMs.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Workloads</h2>
      {snapshot.workloads.length === 0 ? (
        <p>No workloads found.</p>
      ) : (
        <table class="data" aria-label="workloads" data-testid="workloads">
          <thead>
            <tr>
              <th scope="col">Namespace</th><th scope="col">Workload</th><th scope="col">Meshed</th><th scope="col">Success</th><th scope="col">RPS</th>
              <th scope="col">P50</th><th scope="col">P95</th><th scope="col">P99</th><th scope="col">mTLS</th><th scope="col">Success, last hour</th><th scope="col">RPS, last hour</th>
            </tr>
          </thead>
          <tbody>
            {snapshot.workloads.map((w) => (
              <tr key={`${w.namespace}/${w.ref}`} data-workload={`${w.namespace}/${w.ref}`}>
                <td>{w.namespace}</td>
                <th scope="row"><a href={workloadHref(w.namespace, w.ref)}>{w.ref}</a></th>
                <td><MeshedBadge w={w} /></td>
                <td data-col="success" data-value={w.successRate ?? ''}>{pct(w.successRate)}</td>
                <td data-col="rps" data-value={w.rps ?? ''}>{rps(w.rps)}</td>
                <td>{ms(w.latencyMs.p50)}</td><td>{ms(w.latencyMs.p95)}</td><td>{ms(w.latencyMs.p99)}</td>
                <td data-col="mtls">{w.securedShare === null ? '-' : `${Math.round(w.securedShare * 100)}%`}</td>
                <td><Sparkline points={w.history} pick={(p) => p.successRate} label={`success rate of ${w.ref}`} /></td>
                <td><Sparkline points={w.history} pick={(p) => p.rps} label={`requests per second of ${w.ref}`} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  )
}
