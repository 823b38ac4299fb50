// Talking to the tap server: JSON GETs and the tap WebSocket, with the target's TLS and
// credentials. Errors become ClusterErrors that say what to do; answers are bounded in size,
// and in time by --request-timeout (a GET from its start to the end of the answer, a stream
// until it is open).
import http from 'node:http'
import https from 'node:https'
import WebSocket from 'ws'
import {QUERY_HEADER, type ApiErrorBody, type TapStreamMessage} from '../control/tap/api.js'
import {signProof} from '../control/tap/caller-proof.js'
import {DEFAULT_REQUEST_TIMEOUT_MS, describeTimeout, formatDuration} from '../lib/duration.js'
import {ClusterError, MeshError, TimeoutError} from '../lib/errors.js'
import {CONTROL_PLANE_NAMESPACE, TAP_SERVICE_PROXY_NAME} from '../protocol/control-plane.js'
import type {ControlPlaneTarget} from './target.js'

export const MAX_ANSWER_BYTES = 32 * 1024 * 1024
/** How often the tap server pings an open stream (src/control/tap/server.ts). */
export const SERVER_PING_MS = 30_000
/** After close(), how long the tap server gets to answer the WebSocket close before the socket is cut. */
const CLOSE_GRACE_MS = 1_000

function deadline(target: ControlPlaneTarget): number {
  return target.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
}

function timeoutError(target: ControlPlaneTarget, what: string): TimeoutError {
  return new TimeoutError(`no ${what} from the tap server via ${target.description} within ${describeTimeout(deadline(target))}`, {
    code: 'MESH_TAP_TIMEOUT',
    suggestions: [
      target.mode === 'local' ? 'Check the demo: `mesh demo status`.' : `Check that the API server and the control plane answer: \`mesh check --request-timeout ${formatDuration(deadline(target))}\`.`,
      'To wait longer, pass e.g. --request-timeout 2m (0: no limit).',
    ],
  })
}

function urlFor(target: ControlPlaneTarget, path: string, query: Record<string, string | undefined>): URL {
  const url = new URL(target.baseUrl + path)
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, v)
  return url
}

/**
 * Per-request headers: the query again (the service proxy drops it from WebSocket upgrades) and,
 * for a client certificate user, the proof of its key over this request.
 */
export function requestHeaders(target: ControlPlaneTarget, path: string, url: URL): Record<string, string> {
  const query = url.search.replace(/^\?/, '')
  const headers: Record<string, string> = {...(target.requestOptions.headers as Record<string, string>), [QUERY_HEADER]: query}
  const cc = target.clientCertificate
  if (cc) Object.assign(headers, signProof(cc.certPem, cc.keyPem, {method: 'GET', path, query}))
  return headers
}

/** Turns a non-2xx answer into an error naming the cause and the fix. */
export function apiError(target: ControlPlaneTarget, status: number, text: string): MeshError {
  let body: ApiErrorBody | undefined
  try {
    body = JSON.parse(text) as ApiErrorBody
  } catch {
    body = undefined
  }
  if (body?.error?.message) {
    const code = body.error.code ?? `MESH_TAP_${status}`
    const exitCode = 1
    return new MeshError(`the tap server refused: ${body.error.message}`, {code, exitCode, suggestions: body.error.suggestions ?? []})
  }
  // Not the tap server speaking: the API server (no such service, no endpoints, no right to proxy).
  const detail = (() => {
    try {
      return (JSON.parse(text) as {message?: string}).message ?? text
    } catch {
      return text
    }
  })()
    .trim()
    .split('\n')[0]
    .slice(0, 300)
  const suggestions =
    target.mode === 'kube'
      ? status === 403
        ? [`You need \`get\` on services/proxy named ${TAP_SERVICE_PROXY_NAME} in ${CONTROL_PLANE_NAMESPACE} (and the tap.mesh.dev role for the target, e.g. ClusterRole mesh-tap-admin).`]
        : ['Check that the control plane runs: `mesh check`, or `kubectl -n mesh-system get pods`.']
      : ['Check the demo: `mesh demo status`.']
  return new ClusterError(`cannot reach the tap server via ${target.description}: HTTP ${status}${detail ? `: ${detail}` : ''}`, {code: `MESH_TAP_HTTP_${status}`, suggestions})
}

function connectError(target: ControlPlaneTarget, err: Error): ClusterError {
  return new ClusterError(`cannot reach the tap server via ${target.description}: ${err.message}`, {
    code: 'MESH_TAP_UNREACHABLE',
    suggestions: target.mode === 'local' ? ['Is `mesh demo` still running? Check with `mesh demo status`.'] : ['Check that the API server is reachable: `kubectl version`.'],
    cause: err,
  })
}

export function getJson<T>(target: ControlPlaneTarget, path: string, query: Record<string, string | undefined>): Promise<T> {
  const url = urlFor(target, path, query)
  const mod = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = mod.get(url, {...target.requestOptions, headers: requestHeaders(target, path, url)}, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`))
        else chunks.push(c)
      })
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) return reject(apiError(target, res.statusCode ?? 0, text))
        try {
          resolve(JSON.parse(text) as T)
        } catch {
          reject(new ClusterError(`the tap server answered something that is not JSON: ${text.slice(0, 100)}`, {code: 'MESH_TAP_BAD_ANSWER'}))
        }
      })
      res.on('error', (err) => reject(connectError(target, err)))
    })
    // A deadline from the request's start to the end of the answer (a socket idle timeout
    // would restart with every byte a slow server trickles).
    let timedOut = false
    const timer = deadline(target) > 0 ? setTimeout(() => ((timedOut = true), req.destroy()), deadline(target)) : undefined
    req.on('close', () => clearTimeout(timer))
    req.on('error', (err) => reject(timedOut ? timeoutError(target, 'answer') : connectError(target, err)))
  })
}

export interface TapStream {
  /** Resolves when the stream ends (server end, close()), rejects when it cannot start. */
  done: Promise<void>
  close(): void
}

export function openTapStream(target: ControlPlaneTarget, path: string, query: Record<string, string | undefined>, onMessage: (m: TapStreamMessage) => void): TapStream {
  const url = urlFor(target, path, query)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const headers = requestHeaders(target, path, url)
  const ws = new WebSocket(url, {...(target.requestOptions as WebSocket.ClientOptions), headers, maxPayload: 1024 * 1024, perMessageDeflate: false})
  let closing = false
  let timedOut = false
  let silent = false
  const ms = deadline(target)
  // The stream must open within the deadline; once open it lasts as long as the tap does, but
  // not longer than the connection lives: the tap server pings every SERVER_PING_MS, so a
  // stream that hears nothing for that long plus the deadline is dead (a dropped VPN, a
  // suspended laptop) and ends with an error instead of waiting forever.
  const opening = ms > 0 ? setTimeout(() => ((timedOut = true), ws.terminate()), ms) : undefined
  let idle: NodeJS.Timeout | undefined
  const heard = (): void => void idle?.refresh()
  ws.once('open', () => {
    clearTimeout(opening)
    if (ms > 0) idle = setTimeout(() => ((silent = true), ws.terminate()), SERVER_PING_MS + ms)
  })
  ws.on('ping', heard)
  ws.once('close', () => {
    clearTimeout(opening)
    clearTimeout(idle)
  })
  const done = new Promise<void>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        if (text.length < 64 * 1024) text += c
      })
      res.on('end', () => reject(apiError(target, res.statusCode ?? 0, text)))
      res.on('error', (err) => reject(connectError(target, err)))
    })
    ws.on('message', (data) => {
      heard()
      let m: TapStreamMessage
      try {
        m = JSON.parse(String(data)) as TapStreamMessage
      } catch {
        return
      }
      onMessage(m)
    })
    ws.on('error', (err) => {
      if (timedOut) reject(timeoutError(target, 'answer to the stream request'))
      else if (!closing) reject(connectError(target, err))
    })
    ws.on('close', () => {
      if (timedOut) reject(timeoutError(target, 'answer to the stream request'))
      else if (silent) {
        reject(new TimeoutError(`the tap stream via ${target.description} went silent: no event and no ping for ${formatDuration(SERVER_PING_MS + ms)} (the tap server pings every ${formatDuration(SERVER_PING_MS)}; --request-timeout ${formatDuration(ms)})`, {
          code: 'MESH_TAP_SILENT',
          suggestions: ['The connection to the tap server was lost; run the command again.'],
        }))
      } else resolve()
    })
  })
  return {
    done,
    close: () => {
      if (closing) return
      closing = true
      if (ws.readyState !== WebSocket.OPEN) return ws.terminate()
      // A clean close, so the tap server stops its streams to the proxies now; cut the socket
      // if its answer does not come.
      ws.close(1000)
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
    },
  }
}
