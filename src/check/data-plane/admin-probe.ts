// Reads a proxy's admin endpoint (:4191): /ready, and on /metrics the version in
// mesh_proxy_build_info{version="..."} and the refusals the data plane checks report (detect
// timeouts, unfinished mTLS handshakes). Transport-agnostic: the local source GETs
// 127.0.0.1 directly, the cluster source goes through the API server's pod proxy.
import {request} from 'node:http'
import {DETECT_TIMEOUTS_FAMILY} from '../../metrics/detect-families.js'
import {parseMetrics, type MetricFamily} from '../../metrics/parse.js'
import {sumOf, type LabelFilter} from '../../metrics/query.js'
import type {DetectTimeoutCounts} from './source.js'

export type AdminGet = (path: string) => Promise<{status: number; body: string}>

export interface AdminState {
  ready: boolean
  notReadyReason?: string
  version?: string
  /** Connections that sent nothing recognisable within the detect timeout (mesh_proxy_refused_total{reason="detect_timeout"}), and on which ports. */
  detectTimeouts?: DetectTimeoutCounts
  /** Inbound mTLS handshakes it closed unfinished (mesh_proxy_refused_total{direction="inbound",reason="tls_handshake"}). */
  tlsHandshakes?: number
}

/** Largest /metrics body read from one proxy. */
export const MAX_METRICS_BYTES = 4 * 1024 * 1024

export async function probeAdmin(get: AdminGet): Promise<AdminState> {
  const ready = await get('/ready')
  const state: AdminState = {ready: ready.status === 200}
  if (!state.ready) state.notReadyReason = `/ready answered ${ready.status}${ready.body.trim() ? ` (${ready.body.trim().slice(0, 80)})` : ''}`
  const metrics = await get('/metrics')
  if (metrics.status === 200) {
    const families = parseAdminMetrics(metrics.body)
    state.version = buildVersion(families)
    const timeouts = detectTimeouts(families)
    if (timeouts) state.detectTimeouts = timeouts
    const handshakes = tlsHandshakeRefusals(families)
    if (handshakes !== undefined) state.tlsHandshakes = handshakes
  }
  return state
}

type Families = Map<string, MetricFamily> | undefined

/** A /metrics text parsed once for the readers below; undefined when it does not parse. */
export function parseAdminMetrics(text: string): Families {
  try {
    return parseMetrics(text)
  } catch {
    return undefined
  }
}

/** The sum of the refusals `filter` keeps; undefined when the proxy has no such series. */
const refusals = (families: Families, filter: LabelFilter): number | undefined => sumOf(families?.get('mesh_proxy_refused_total'), filter)

/**
 * The detect timeouts a proxy counted, by direction, and the ports they happened on when it
 * counts by port (ports past its series bound are "other": not listed); undefined when its
 * metrics do not say.
 */
export function detectTimeouts(families: Families): DetectTimeoutCounts | undefined {
  if (!families?.has('mesh_proxy_refused_total')) return undefined
  const sum = (d: string): number => refusals(families, (l) => l.reason === 'detect_timeout' && l.direction === d) ?? 0
  const out: DetectTimeoutCounts = {inbound: sum('inbound'), outbound: sum('outbound')}
  const byPort = families.get(DETECT_TIMEOUTS_FAMILY)
  if (byPort) {
    const ports = (d: string) => byPort.samples.filter((s) => s.labels.direction === d && s.value > 0 && /^\d{1,5}$/.test(s.labels.port ?? '')).map((s) => Number(s.labels.port)).sort((a, b) => a - b)
    out.ports = {inbound: ports('inbound'), outbound: ports('outbound')}
  }
  return out
}

/**
 * The inbound mTLS handshakes a proxy closed unfinished (a client whose ClientHello named it
 * stalled or half-closed until the handshake timeout, or sent what is not TLS); undefined when
 * its metrics do not say (no refusals family, or a proxy before the reason: no such series).
 */
export function tlsHandshakeRefusals(families: Families): number | undefined {
  return refusals(families, (l) => l.reason === 'tls_handshake' && l.direction === 'inbound')
}

export function buildVersion(families: Families): string | undefined {
  return families?.get('mesh_proxy_build_info')?.samples.find((s) => s.labels.version)?.labels.version
}

/** A GET against a loopback admin URL, bounded in time and size. */
export function httpAdminGet(baseUrl: string, timeoutMs = 3000): AdminGet {
  return (path) =>
    new Promise((resolve, reject) => {
      const req = request(new URL(path, baseUrl), {method: 'GET', agent: false}, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_METRICS_BYTES) req.destroy(new Error(`${baseUrl}${path}: answer larger than ${MAX_METRICS_BYTES} bytes`))
          else chunks.push(c)
        })
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}))
        res.on('error', reject)
      })
      const timer = setTimeout(() => req.destroy(new Error(`${baseUrl}${path}: no answer within ${timeoutMs / 1000} s`)), timeoutMs)
      req.on('close', () => clearTimeout(timer))
      req.on('error', reject)
      req.end()
    })
}
