// One HTTP/1.1 exchange with a port inside a pod, over the API server's pod port-forward
// (`pods/<name>/portforward?ports=<port>`, WebSocket subprotocol v4.channel.k8s.io, as kubectl
// and client-node speak it): every binary message starts with its channel (0 data, 1 error for
// the first port) and each channel's first message is the port number (2 bytes, little endian).
// The kubelet connects to the port on localhost inside the pod's network namespace, so the
// proxy's admin server sees a loopback peer: the writes it answers only to loopback
// (PUT /proxy-log-level) work this way, and only for users RBAC allows `create pods/portforward`.
import type {RequestOptions} from 'node:https'
import WebSocket from 'ws'
import type {Kube} from '../k8s/client.js'
import {ClusterError} from '../lib/errors.js'

export interface ForwardedResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Largest answer read (the admin server's answers are a few bytes; /metrics is read elsewhere). */
const MAX_BYTES = 1024 * 1024

export function parseHttpResponse(raw: Buffer): ForwardedResponse | undefined {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const head = raw.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify((head[0] ?? '').slice(0, 60))}`)
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  const body = raw.subarray(end + 4)
  if (headers['transfer-encoding']) throw new Error('chunked answers are not read here')
  const length = headers['content-length'] === undefined ? 0 : Number(headers['content-length'])
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_BYTES) throw new Error(`bad content-length ${headers['content-length']}`)
  if (body.length < length) return undefined
  return {status: Number(m[1]), headers, body: body.subarray(0, length).toString('utf8')}
}

export async function portForwardHttp(
  kube: Kube,
  pod: {namespace: string; name: string},
  port: number,
  req: {method: string; path: string; body?: string},
  timeoutMs = kube.requestTimeoutMs || 10_000,
): Promise<ForwardedResponse> {
  const opts: RequestOptions & {headers: Record<string, string>} = {headers: {}}
  await kube.kc.applyToHTTPSOptions(opts)
  const url = `${kube.server.replace(/^http/, 'ws').replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/portforward?ports=${port}`
  const body = req.body ?? ''
  const request = Buffer.from(
    `${req.method} ${req.path} HTTP/1.1\r\nhost: localhost:${port}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'utf8',
  )
  const what = `the port-forward to ${pod.namespace}/${pod.name}:${port}`
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v4.channel.k8s.io'], {...(opts as WebSocket.ClientOptions), handshakeTimeout: timeoutMs, perMessageDeflate: false, maxPayload: MAX_BYTES})
    const seenPort = [false, false]
    let data = Buffer.alloc(0)
    let errorText = ''
    let settled = false
    const done = (err: Error | undefined, res?: ForwardedResponse): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      ws.terminate()
      if (err) reject(err)
      else resolve(res!)
    }
    const timer = setTimeout(() => done(new ClusterError(`${what} gave no answer within ${timeoutMs / 1000} s`, {code: 'MESH_PORT_FORWARD'})), timeoutMs)
    ws.on('unexpected-response', (_r, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c.slice(0, 1000)))
      res.on('end', () =>
        done(new ClusterError(`${what} was refused: HTTP ${res.statusCode} ${text.replace(/\s+/g, ' ').trim().slice(0, 300)}`, {
          code: 'MESH_PORT_FORWARD',
          suggestions: [res.statusCode === 403 ? `You need \`create pods/portforward\` in namespace ${pod.namespace}.` : 'Check the pod: `kubectl get pod -o wide`.'],
        })),
      )
    })
    ws.on('error', (err) => done(new ClusterError(`${what} failed: ${err.message}`, {code: 'MESH_PORT_FORWARD'})))
    ws.on('message', (msg: Buffer, isBinary) => {
      if (!isBinary || msg.length === 0) return
      const channel = msg[0]!
      let payload = msg.subarray(1)
      if (channel > 1) return
      if (!seenPort[channel]) {
        // The first message of each channel is the port it belongs to.
        seenPort[channel] = true
        payload = payload.subarray(2)
        if (channel === 0 && seenPort[1]) ws.send(Buffer.concat([Buffer.from([0]), request]))
        else if (channel === 1 && seenPort[0]) ws.send(Buffer.concat([Buffer.from([0]), request]))
      }
      if (channel === 1) {
        errorText += payload.toString('utf8')
        if (errorText.length > 0) done(new ClusterError(`${what}: ${errorText.trim().slice(0, 300)}`, {code: 'MESH_PORT_FORWARD'}))
        return
      }
      data = Buffer.concat([data, payload])
      if (data.length > MAX_BYTES) return done(new ClusterError(`${what}: answer larger than ${MAX_BYTES} bytes`, {code: 'MESH_PORT_FORWARD'}))
      try {
        const res = parseHttpResponse(data)
        if (res) done(undefined, res)
      } catch (error) {
        done(new ClusterError(`${what}: ${(error as Error).message}`, {code: 'MESH_PORT_FORWARD'}))
      }
    })
    ws.on('close', () => {
      try {
        const res = parseHttpResponse(data)
        if (res) return done(undefined, res)
      } catch {
        // reported below
      }
      done(new ClusterError(`${what} closed before a whole answer arrived${errorText ? `: ${errorText.trim()}` : ''}`, {code: 'MESH_PORT_FORWARD'}))
    })
  })
}
