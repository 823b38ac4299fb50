// The service graph: workloads as nodes, one edge per pair that talks (as `mesh edges` sees it),
// laid out by dagre. Nodes are links (Tab, Enter); the same edges follow as a table.
import dagre from '@dagrejs/dagre'
import {useMemo} from 'preact/hooks'
import type {GraphEdge, Snapshot, Workload} from '../types.js'
import {workloadHref} from './common.js'
import {pct, rps, shortId} from './format.js'

const NODE_W = 170
const NODE_H = 54

interface Laid {
  width: number
  height: number
  nodes: {id: string; ns: string; name: string; x: number; y: number; w?: Workload}[]
  edges: {e: GraphEdge; points: {x: number; y: number}[]}[]
}

const nodeId = (ns: string, name: string): string => `${ns}/${name}`

function layout(snapshot: Snapshot): Laid {
  const g = new dagre.graphlib.Graph({multigraph: false})
  g.setGraph({rankdir: 'LR', nodesep: 40, ranksep: 120, marginx: 20, marginy: 20})
  g.setDefaultEdgeLabel(() => ({}))
  const byId = new Map<string, {ns: string; name: string; w?: Workload}>()
  for (const w of snapshot.workloads) byId.set(nodeId(w.namespace, w.ref), {ns: w.namespace, name: w.ref, w})
  for (const e of snapshot.graph) {
    for (const [ns, name] of [[e.srcNamespace, e.src], [e.dstNamespace, e.dst]] as const) if (!byId.has(nodeId(ns, name))) byId.set(nodeId(ns, name), {ns, name})
  }
  for (const id of byId.keys()) g.setNode(id, {width: NODE_W, height: NODE_H})
  for (const e of snapshot.graph) g.setEdge(nodeId(e.srcNamespace, e.src), nodeId(e.dstNamespace, e.dst), {width: 120, height: 30, labelpos: 'c'})
  dagre.layout(g)
  const graph = g.graph()
  return {
    width: Math.max(200, graph.width ?? 0),
    height: Math.max(100, graph.height ?? 0),
    nodes: [...byId.entries()].map(([id, n]) => {
      const p = g.node(id)
      return {id, ...n, x: p.x, y: p.y}
    }),
    edges: snapshot.graph.map((e) => ({e, points: g.edge(nodeId(e.srcNamespace, e.src), nodeId(e.dstNamespace, e.dst))?.points ?? []})),
  }
}

const edgeText = (e: GraphEdge): string => `${e.rps === null || e.requests === 0 ? `${e.connections} conn` : rps(e.rps)} · ${pct(e.successRate)} · ${e.verified ? 'mTLS' : 'not verified'}`

export function GraphView({snapshot}: {snapshot: Snapshot}) {
  const laid = useMemo(() => layout(snapshot), [snapshot])
  const go = (href: string) => (location.hash = href)
  return (
    <>
      <h1>Service graph</h1>
      <p class="note">Nodes are workloads; an edge is a pair that talks, with its requests per second and success rate over the last {snapshot.window}, and whether both identities were verified (mTLS).</p>
      {snapshot.graph.length === 0 && <p>No traffic seen yet between workloads.</p>}
      <div class="graph-wrap">
        <svg class="graph" data-testid="graph" viewBox={`0 0 ${laid.width} ${laid.height}`} role="group" aria-label="service graph">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
            </marker>
          </defs>
          {laid.edges.map(({e, points}) => {
            const mid = points[Math.floor(points.length / 2)] ?? {x: 0, y: 0}
            return (
              <g key={`${e.srcNamespace}/${e.src}->${e.dstNamespace}/${e.dst}`} class={`edge ${e.verified ? 'verified' : 'plain'}`} data-edge={`${e.srcNamespace}/${e.src}->${e.dstNamespace}/${e.dst}`} data-verified={String(e.verified)}>
                <path d={points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ')} marker-end="url(#arrow)" />
                <text x={mid.x} y={mid.y - 6} text-anchor="middle">{edgeText(e)}</text>
              </g>
            )
          })}
          {laid.nodes.map((n) => {
            const href = workloadHref(n.ns, n.name)
            const label = `${n.name} in ${n.ns}${n.w ? `: ${pct(n.w.successRate)} success, ${rps(n.w.rps)}` : ''}`
            return (
              <g
                key={n.id}
                class={`node ${n.w ? '' : 'external'}`}
                data-node={n.id}
                transform={`translate(${(n.x - NODE_W / 2).toFixed(1)} ${(n.y - NODE_H / 2).toFixed(1)})`}
                tabindex={0}
                role="link"
                aria-label={label}
                onClick={() => go(href)}
                onKeyDown={(ev: KeyboardEvent) => {
                  if (ev.key === 'Enter' || ev.key === ' ') {
                    ev.preventDefault()
                    go(href)
                  }
                }}
              >
                <rect width={NODE_W} height={NODE_H} rx="8" />
                <text x={NODE_W / 2} y={22} text-anchor="middle" class="name">{n.name}</text>
                <text x={NODE_W / 2} y={41} text-anchor="middle" class="sub">{n.w ? `${pct(n.w.successRate)} · ${rps(n.w.rps)}` : n.ns}</text>
              </g>
            )
          })}
        </svg>
      </div>
      <h2>Edges</h2>
      <table class="data" aria-label="edges">
        <thead>
          <tr><th scope="col">From</th><th scope="col">To</th><th scope="col">RPS</th><th scope="col">Success</th><th scope="col">mTLS</th><th scope="col">Identities</th></tr>
        </thead>
        <tbody>
          {snapshot.graph.map((e) => (
            <tr key={`${e.srcNamespace}/${e.src}->${e.dstNamespace}/${e.dst}`}>
              <td><a href={workloadHref(e.srcNamespace, e.src)}>{e.src}</a></td>
              <td><a href={workloadHref(e.dstNamespace, e.dst)}>{e.dst}</a></td>
              <td>{e.rps === null ? '-' : rps(e.rps)}</td>
              <td>{pct(e.successRate)}</td>
              <td>{e.verified ? <span class="badge ok">verified</span> : <span class="badge bad">{e.noTlsReasons.join(', ') || 'no'}</span>}</td>
              <td>{e.clientIds.map(shortId).join(', ') || '-'} → {e.serverIds.map(shortId).join(', ') || '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}
