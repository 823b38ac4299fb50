// A meshed pod for the authorization tests, in process: four real apps on 127.0.0.1 (HTTP/1,
// HTTP/2, gRPC with grpc-js, a TCP echo), the real data path (startProxy) with its real metrics
// in front of them on 0.0.0.0, and real clients: HTTP/1 (http/https), HTTP/2 (node:http2),
// gRPC (grpc-js) and opaque TCP (net/tls), each plaintext or mTLS with a client certificate,
// from a chosen loopback address (networks rules). Which pod port a connection is for is what
// iptables' REDIRECT would say: here the address the client dialled (127.0.0.11 for the HTTP/1
// app's port, .12 HTTP/2, .13 gRPC, .14 TCP), read by an originalDst function in place of the
// SO_ORIGINAL_DST addon (the e2e suite runs the real one).
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import {parseMetrics} from '../../src/metrics/index.js'
import {createProxyMetrics} from '../../src/metrics/proxy-metrics.js'
import type {AuthzProbe} from '../../src/protocol/authz.js'
import type {InboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import type {Discovery, Identity} from '../../src/proxy/core/contracts.js'
import {Logger} from '../../src/proxy/core/log.js'
import {ErrorRing} from '../../src/proxy/admin/errors.js'
import {startAdmin, type AdminServer} from '../../src/proxy/admin/server.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {echoService} from '../e2e/apps/grpc-def.js'
import {closeServer, listenOn, startEchoApp, testConfig, type EchoApp} from './helpers.js'

export type PortKind = 'http' | 'h2' | 'grpc' | 'tcp'
const ADDRESS: Record<PortKind, string> = {http: '127.0.0.11', h2: '127.0.0.12', grpc: '127.0.0.13', tcp: '127.0.0.14'}

/** A client certificate (key and chain PEM) and the identity it names. */
export interface ClientCert {
  identity: string
  keyPem: string
  certPem: string
}

/** Who calls: with a certificate (mTLS to the proxy), or plaintext; from which loopback address. */
export interface Caller {
  cert?: ClientCert
  from?: string
}

export interface AuthzPod {
  proxy: RunningProxy
  /** The apps' ports: the pod ports policies name. */
  ports: Record<PortKind, number>
  identity: string
  anchorsPem: string
  logs: string[]
  /** Requests and connections that reached each app. */
  arrivals: Record<PortKind, number>
  /** The proxy's admin server (/metrics, /errors), on 127.0.0.1. */
  admin: AdminServer
  /** The failures GET /errors answers with (what `mesh explain` reads). */
  errors: ErrorRing
  metrics(): string
  stop(): Promise<void>
}

export interface AuthzPodOptions {
  namespace: string
  pod: string
  identity: Identity & {localName: string}
  anchorsPem: string
  discovery?: Discovery
  /** The pod's probes (MESH_PROXY_INBOUND_PROBES), by the app they go to. */
  probeKinds?: Array<{kind: PortKind; method: AuthzProbe['method']; path: string}>
  inboundPolicy?: InboundPolicy
  workload?: string
}

export async function startAuthzPod(o: AuthzPodOptions): Promise<AuthzPod> {
  const arrivals: Record<PortKind, number> = {http: 0, h2: 0, grpc: 0, tcp: 0}
  const web: EchoApp = await startEchoApp((_req, _res, _body) => {
    arrivals.http++
    return false
  })
  const h2app = http2.createServer()
  h2app.on('stream', (s, h) => {
    arrivals.h2++
    s.respond({':status': 200, 'content-type': 'text/plain'})
    s.end(`h2 ${h[':method']} ${h[':path']}`)
  })
  const h2port = await listenOn(h2app as unknown as net.Server)
  const grpcServer = new grpc.Server()
  grpcServer.addService(echoService, {
    say: (call: grpc.ServerUnaryCall<{text: string}, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      arrivals.grpc++
      cb(null, {echo: call.request.text})
    },
  })
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
  const tcp = net.createServer((s) => {
    arrivals.tcp++
    s.on('error', () => {})
    s.pipe(s)
  })
  const tcpPort = await listenOn(tcp)
  const ports: Record<PortKind, number> = {http: web.port, h2: h2port, grpc: grpcPort, tcp: tcpPort}
  const byAddress = new Map((Object.keys(ADDRESS) as PortKind[]).map((k) => [ADDRESS[k], ports[k]]))
  const metrics = createProxyMetrics({localLabels: {namespace: o.namespace, pod: o.pod, deployment: o.workload ?? o.pod.replace(/-\d+$/, '')}})
  const logs: string[] = []
  const errors = new ErrorRing()
  const cfg = testConfig({inbound: {host: '0.0.0.0', port: 0}, podLabels: {namespace: o.namespace, pod: o.pod}, inboundProbes: (o.probeKinds ?? []).map((p) => ({port: ports[p.kind], method: p.method, path: p.path}))})
  if (o.inboundPolicy) cfg.inboundPolicy = o.inboundPolicy
  cfg.limits.detectTimeoutMs = 2000
  const proxy = await startProxy(cfg, {
    log: new Logger('debug', 'plain', (l) => {
      logs.push(l)
      if (process.env.MESH_TEST_PROXY_LOG === '1') process.stderr.write(l)
    }),
    identity: o.identity,
    discovery: o.discovery,
    observers: [metrics.observer, errors],
    originalDst: (socket) => {
      const port = byAddress.get((socket.localAddress ?? '').replace(/^::ffff:/, ''))
      return port === undefined ? undefined : {ip: '127.0.0.1', port}
    },
  })
  const admin = await startAdmin({listen: '127.0.0.1:0', registry: metrics.registry, ready: () => proxy.isReady(), onShutdown: () => {}, getLogLevel: () => 'info', setLogLevel: () => {}, errors})
  return {
    proxy, ports, identity: o.identity.localName, anchorsPem: o.anchorsPem, logs, arrivals, admin, errors,
    metrics: () => metrics.registry.metrics(),
    stop: async () => {
      await Promise.all([proxy.close(100), admin.close()])
      grpcServer.forceShutdown()
      await Promise.all([closeServer(web.server), closeServer(h2app as unknown as net.Server), closeServer(tcp)])
    },
  }
}

function tlsOptions(pod: AuthzPod, c: ClientCert): tls.ConnectionOptions {
  return {servername: pod.identity, ca: pod.anchorsPem, key: c.keyPem, cert: c.certPem}
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  /** The request went on a connection that had carried one before. */
  reused: boolean
}

/** An HTTP/1 request to the pod's HTTP/1 port (mTLS with `caller.cert`). */
export function h1(pod: AuthzPod, path: string, caller: Caller = {}, o: {method?: string; agent?: http.Agent; kind?: PortKind; headers?: Record<string, string>} = {}): Promise<Reply> {
  const kind = o.kind ?? 'http'
  const base = {host: ADDRESS[kind], port: pod.proxy.ports.inbound, path, method: o.method ?? 'GET', localAddress: caller.from, headers: {host: 'books.shop.svc.cluster.local', ...o.headers}, timeout: 20_000}
  return new Promise((resolve, reject) => {
    const done = (res: http.IncomingMessage): void => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket}))
    }
    const req = caller.cert
      ? https.request({...base, ...tlsOptions(pod, caller.cert), agent: o.agent ?? false}, done)
      : http.request({...base, agent: o.agent ?? false}, done)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** A keep-alive agent of one connection for `caller` (mTLS when it has a certificate). */
export function agentFor(pod: AuthzPod, caller: Caller): http.Agent {
  const o = {keepAlive: true, maxSockets: 1, localAddress: caller.from}
  return caller.cert ? new https.Agent({...o, ...tlsOptions(pod, caller.cert)}) : new http.Agent(o)
}

export interface H2Reply {
  status: number
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader
  body: string
  trailers: http2.IncomingHttpHeaders
}

/** HTTP/2 requests (h2c, or h2 over mTLS) on one connection to a pod port. */
export async function h2(pod: AuthzPod, kind: PortKind, requests: Array<{path: string; method?: string; headers?: Record<string, string>}>, caller: Caller = {}): Promise<H2Reply[]> {
  const session = caller.cert
    ? http2.connect(`https://${ADDRESS[kind]}:${pod.proxy.ports.inbound}`, {...tlsOptions(pod, caller.cert), localAddress: caller.from} as http2.SecureClientSessionOptions)
    : http2.connect(`http://${ADDRESS[kind]}:${pod.proxy.ports.inbound}`, {localAddress: caller.from} as http2.ClientSessionOptions)
  session.on('error', () => {})
  try {
    const out: H2Reply[] = []
    for (const r of requests) {
      out.push(await new Promise<H2Reply>((resolve, reject) => {
        const s = session.request({':method': r.method ?? 'GET', ':path': r.path, ':authority': 'books.shop.svc.cluster.local', ...r.headers}, {endStream: r.method !== 'POST'})
        if (r.method === 'POST') s.end(Buffer.from([0, 0, 0, 0, 0]))
        let headers: H2Reply['headers'] = {} as H2Reply['headers']
        let trailers: http2.IncomingHttpHeaders = {}
        let body = ''
        s.on('response', (h) => (headers = h))
        s.on('trailers', (t) => (trailers = t))
        s.setEncoding('utf8').on('data', (d: string) => (body += d))
        s.on('end', () => resolve({status: Number(headers[':status']), headers, body, trailers}))
        s.on('error', reject)
      }))
    }
    return out
  } finally {
    session.close()
  }
}

export interface GrpcReply {
  code: number
  details: string
  /** mesh-proxy-error, when the proxy answered. */
  proxyError?: string
  echo?: string
}

/** One unary call of the e2e echo service (test/e2e/apps/grpc-def.ts) to the pod's gRPC port. */
export function grpcSay(pod: AuthzPod, text: string, caller: Caller = {}): Promise<GrpcReply> {
  const target = `${ADDRESS.grpc}:${pod.proxy.ports.inbound}`
  const creds = caller.cert
    ? grpc.credentials.createSsl(Buffer.from(pod.anchorsPem), Buffer.from(caller.cert.keyPem), Buffer.from(caller.cert.certPem))
    : grpc.credentials.createInsecure()
  const client = new grpc.Client(target, creds, {'grpc.ssl_target_name_override': pod.identity, 'grpc.default_authority': pod.identity})
  const def = echoService.say!
  return new Promise((resolve) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, {text}, new grpc.Metadata(), {deadline: Date.now() + 20_000}, (err: grpc.ServiceError | null, res?: {echo?: string}) => {
      client.close()
      if (err) {
        const e = err.metadata?.get('mesh-proxy-error')[0]
        resolve({code: err.code, details: err.details, ...(e === undefined ? {} : {proxyError: String(e)})})
      } else resolve({code: 0, details: '', echo: res?.echo})
    })
  })
}

/** Opaque bytes to the pod's TCP echo: what came back before the connection closed ('' when closed at once). */
export function tcpEcho(pod: AuthzPod, caller: Caller = {}, data = Buffer.from([0, 1, 2, 3, 0x6f, 0x6b])): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const o = {host: ADDRESS.tcp, port: pod.proxy.ports.inbound, localAddress: caller.from}
    const s: net.Socket = caller.cert ? tls.connect({...o, ...tlsOptions(pod, caller.cert)}) : net.connect(o)
    const got: Buffer[] = []
    const timer = setTimeout(() => s.destroy(new Error('no answer and no close within 20 s')), 20_000)
    s.once(caller.cert ? 'secureConnect' : 'connect', () => s.write(data))
    s.on('data', (d: Buffer) => {
      got.push(d)
      if (Buffer.concat(got).length >= data.length) s.end()
    })
    s.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(got))
    })
    s.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE') return
      clearTimeout(timer)
      reject(e)
    })
  })
}

/** A TCP connection to the pod's echo kept open: each `echo` sends bytes and waits for them back. */
export interface OpenTcp {
  echo(data: Buffer): Promise<Buffer>
  /** Whether the connection closed (by either end). */
  isClosed(): boolean
  destroy(): void
}

/** Opens a TCP connection (mTLS with a certificate) to the pod's echo and waits until it is up. */
export function openTcp(pod: AuthzPod, caller: Caller = {}): Promise<OpenTcp> {
  return new Promise((resolve, reject) => {
    const o = {host: ADDRESS.tcp, port: pod.proxy.ports.inbound, localAddress: caller.from}
    const s: net.Socket = caller.cert ? tls.connect({...o, ...tlsOptions(pod, caller.cert)}) : net.connect(o)
    let got = Buffer.alloc(0)
    let want: {n: number; done: (b: Buffer) => void; fail: (e: Error) => void} | undefined
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (want && got.length >= want.n) {
        const w = want
        want = undefined
        const b = got.subarray(0, w.n)
        got = got.subarray(w.n)
        w.done(b)
      }
    })
    s.on('error', () => {})
    s.once('close', () => want?.fail(new Error('the connection closed before the echo came back')))
    s.once('close', () => reject(new Error('the connection closed before it was up')))
    s.once(caller.cert ? 'secureConnect' : 'connect', () => resolve({
      isClosed: () => s.closed,
      destroy: () => s.destroy(),
      echo: (data) => new Promise((done, fail) => {
        if (s.destroyed) return fail(new Error('the connection is closed'))
        want = {n: data.length, done, fail}
        s.write(data)
      }),
    }))
  })
}

/**
 * The sum of a family's samples whose labels are exactly `labels` plus any of `others` (the
 * labels every series has, e.g. direction), or undefined when there is none.
 */
export function seriesValue(text: string, family: string, labels: Record<string, string> = {}, others: string[] = ['direction']): number | undefined {
  let sum: number | undefined
  for (const s of parseMetrics(text).get(family)?.samples ?? []) {
    const keys = Object.keys(s.labels).filter((k) => !others.includes(k))
    if (keys.length !== Object.keys(labels).length || !keys.every((k) => s.labels[k] === labels[k])) continue
    sum = (sum ?? 0) + s.value
  }
  return sum
}
