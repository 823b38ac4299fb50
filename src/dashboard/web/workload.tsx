// One workload: its numbers, its inbound and outbound peers, the control plane's routes on the
// Services it calls with their numbers (routes.tsx), and a live tap with filters, with the
// routes `mesh top` sees in it (the route its proxies matched, else one learnt from the paths).
import {useEffect, useRef, useState} from 'preact/hooks'
import type {TapEvent} from '../../protocol/tap.js'
import type {TopSnapshot} from '../../tapclient/top-aggregate.js'
import type {GraphEdge, ShownError, Snapshot, TapMessage} from '../types.js'
import {ErrorBox, MeshedBadge, workloadHref} from './common.js'
import {ControlPlaneRoutes} from './routes.js'
import {ms, pct, rps, shortId} from './format.js'
import {wsUrl} from './live.js'
import {Sparkline} from './sparkline.js'

const MAX_ROWS = 200

interface TapRow {
  key: string
  time: number
  pod: string
  direction: string
  method: string
  authority: string
  path: string
  route: string
  status: string
  latency: string
  tls: string
}

interface Filters {
  method: string
  path: string
  authority: string
  status: string
}

function tlsText(ev: TapEvent): string {
  return ev.tls.tls ? `${shortId(ev.tls.clientId ?? '?')} → ${shortId(ev.tls.serverId ?? '?')}` : `no (${ev.tls.noTlsReason ?? 'unknown'})`
}

function Peers({title, edges, side}: {title: string; edges: GraphEdge[]; side: 'src' | 'dst'}) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {edges.length === 0 ? (
        <p>None seen.</p>
      ) : (
        <table class="data" data-testid={side === 'src' ? 'inbound' : 'outbound'}>
          <thead><tr><th scope="col">Peer</th><th scope="col">RPS</th><th scope="col">Success</th><th scope="col">mTLS</th></tr></thead>
          <tbody>
            {edges.map((e) => {
              const ns = side === 'src' ? e.srcNamespace : e.dstNamespace
              const name = side === 'src' ? e.src : e.dst
              return (
                <tr key={`${ns}/${name}`}>
                  <td><a href={workloadHref(ns, name)}>{name}</a>{ns ? ` (${ns})` : ''}</td>
                  <td>{e.rps === null ? '-' : rps(e.rps)}</td>
                  <td>{pct(e.successRate)}</td>
                  <td>{e.verified ? <span class="badge ok">verified</span> : <span class="badge bad">{e.noTlsReasons.join(', ') || 'no'}</span>}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
    </section>
  )
}

function Tap({namespace, resource}: {namespace: string; resource: string}) {
  const [filters, setFilters] = useState<Filters>({method: '', path: '', authority: '', status: ''})
  const [applied, setApplied] = useState<Filters>(filters)
  const [running, setRunning] = useState(true)
  const [rows, setRows] = useState<TapRow[]>([])
  const [top, setTop] = useState<TopSnapshot | undefined>(undefined)
  const [error, setError] = useState<ShownError | undefined>(undefined)
  const [notes, setNotes] = useState<string[]>([])
  const byKey = useRef(new Map<string, TapRow>())

  useEffect(() => {
    if (!running) return
    setError(undefined)
    setNotes([])
    const q = new URLSearchParams({resource, namespace})
    for (const [k, v] of Object.entries(applied)) if (v !== '') q.set(k, v)
    const ws = new WebSocket(wsUrl(`/api/tap?${q.toString()}`))
    let pending: TapRow[] | undefined
    const flush = (): void => {
      pending = undefined
      setRows([...byKey.current.values()].reverse().slice(0, MAX_ROWS))
    }
    ws.onmessage = (e: MessageEvent<string>) => {
      const m = JSON.parse(e.data) as TapMessage
      if (m.type === 'event') {
        const ev = m.event
        const key = `${m.pod}/${ev.id}`
        let row = byKey.current.get(key)
        if (!row) {
          if (ev.type !== 'requestInit') return
          row = {key, time: ev.timestamp, pod: m.pod, direction: ev.direction === 'inbound' ? 'in' : 'out', method: ev.method, authority: ev.authority, path: ev.path, route: ev.route ?? '', status: '', latency: '', tls: tlsText(ev)}
          byKey.current.set(key, row)
          while (byKey.current.size > MAX_ROWS) byKey.current.delete(byKey.current.keys().next().value!)
        } else if (ev.type === 'responseInit') {
          row.status = String(ev.status)
          row.latency = ms(ev.sinceRequestInit / 1000)
        } else if (ev.type === 'responseEnd') {
          if (ev.status !== undefined) row.status = String(ev.status)
          if (ev.grpcStatus !== undefined) row.status += ` grpc ${ev.grpcStatus}`
          if (ev.resetError) row.status += ` reset ${ev.resetError}`
        }
        if (!pending) {
          pending = []
          requestAnimationFrame(flush)
        }
      } else if (m.type === 'routes') setTop(m.top)
      else if (m.type === 'error') setError(m.error)
      else if (m.type === 'warning') setNotes((n) => [...n.slice(-4), m.message])
      else if (m.type === 'end') setNotes((n) => [...n.slice(-4), `tap ended: ${m.reason}`])
    }
    return () => ws.close()
  }, [running, applied, namespace, resource])

  const field = (k: keyof Filters, label: string, placeholder: string) => (
    <label>
      {label}
      <input name={k} value={filters[k]} placeholder={placeholder} onInput={(e) => setFilters({...filters, [k]: (e.target as HTMLInputElement).value})} />
    </label>
  )
  return (
    <>
      <section aria-label="routes seen in the live requests">
        <h2>Routes seen in the live requests</h2>
        <p class="note">
          From the requests tapped since this page opened, in and out, as <code>mesh top</code> counts them: the route the client's proxy took
          (marked <em>rule</em>), else a route learnt from the paths (<code>/books/&#123;id&#125;</code>), so a Service without routes shows its paths too.
        </p>
        {!top || top.rows.length === 0 ? (
          <p>No requests seen yet.</p>
        ) : (
          <table class="data" data-testid="tap-routes">
            <thead><tr><th scope="col">Route</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Count</th><th scope="col">Success</th><th scope="col">P50</th><th scope="col">P95</th><th scope="col">P99</th></tr></thead>
            <tbody>
              {top.rows.slice(0, 50).map((r) => (
                <tr key={`${r.source}/${r.destination}/${r.method}/${r.route}`}>
                  <td>{r.routeKind === 'rule' ? r.route : `${r.method} ${r.route}`}{r.routeKind === 'rule' ? <span class="badge ok">rule</span> : null}</td>
                  <td>{r.source}</td><td>{r.destination}</td><td>{r.count}</td><td>{pct(r.successRate)}</td>
                  <td>{ms(r.latencyMs.p50)}</td><td>{ms(r.latencyMs.p95)}</td><td>{ms(r.latencyMs.p99)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-label="live tap">
        <h2>Live requests</h2>
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault()
            byKey.current.clear()
            setRows([])
            setApplied({...filters})
            setRunning(true)
          }}
        >
          {field('method', 'Method', 'GET')}
          {field('path', 'Path prefix', '/api')}
          {field('authority', 'Authority', 'books:8080')}
          {field('status', 'Status', '500')}
          <button type="submit">Apply filters</button>
          <button type="button" aria-pressed={!running} onClick={() => setRunning(!running)}>{running ? 'Pause' : 'Resume'}</button>
        </form>
        {error && <ErrorBox error={error} what="The tap stream was refused" />}
        {notes.map((n) => <p class="note" key={n}>{n}</p>)}
        <table class="data tap" data-testid="tap" aria-live="off">
          <thead><tr><th scope="col">Time</th><th scope="col">Pod</th><th scope="col">Dir</th><th scope="col">Method</th><th scope="col">Authority</th><th scope="col">Path</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">mTLS</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-path={r.path}>
                <td>{new Date(r.time).toLocaleTimeString()}</td><td>{r.pod}</td><td>{r.direction}</td><td>{r.method}</td><td>{r.authority}</td><td>{r.path}</td><td>{r.status}</td><td>{r.latency}</td><td>{r.tls}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  )
}

export function WorkloadView({snapshot, namespace, resource}: {snapshot: Snapshot; namespace: string; resource: string}) {
  const w = snapshot.workloads.find((x) => x.namespace === namespace && x.ref === resource)
  const inbound = snapshot.graph.filter((e) => e.dst === resource && e.dstNamespace === namespace)
  const outbound = snapshot.graph.filter((e) => e.src === resource && e.srcNamespace === namespace)
  return (
    <>
      <h1>{resource} <span class="muted">in {namespace}</span></h1>
      {w ? (
        <dl class="summary">
          <div><dt>Pods</dt><dd><MeshedBadge w={w} /></dd></div>
          <div><dt>Success</dt><dd>{pct(w.successRate)} <Sparkline points={w.history} pick={(p) => p.successRate} label="success rate" /></dd></div>
          <div><dt>RPS</dt><dd>{rps(w.rps)} <Sparkline points={w.history} pick={(p) => p.rps} label="requests per second" /></dd></div>
          <div><dt>Latency p50 / p95 / p99</dt><dd>{ms(w.latencyMs.p50)} / {ms(w.latencyMs.p95)} / {ms(w.latencyMs.p99)}</dd></div>
          <div><dt>mTLS</dt><dd>{w.securedShare === null ? '-' : `${Math.round(w.securedShare * 100)}%`}</dd></div>
          <div><dt>TCP</dt><dd>{w.tcpConnections ?? '-'} open, {w.tcpConnectionsPerSecond?.toFixed(1) ?? '-'}/s</dd></div>
        </dl>
      ) : (
        <p>Not a workload this dashboard lists (a caller outside the namespace, or an address).</p>
      )}
      <div class="peers">
        <Peers title="Inbound: who calls it" edges={inbound} side="src" />
        <Peers title="Outbound: what it calls" edges={outbound} side="dst" />
      </div>
      {w && <ControlPlaneRoutes namespace={namespace} resource={resource} refresh={snapshot.time} />}
      {w && <Tap namespace={namespace} resource={resource} />}
    </>
  )
}
