// The e2e client, run inside a pod's network namespace (like `kubectl exec`): sends `count`
// requests (one every `intervalMs`) and prints one JSON summary line: ok/failed counts, which
// pods answered, the statuses (an HTTP 5xx is answered but failed), the first errors. Bounded:
// at most 10,000 requests, 5 s per request.
//   client.ts http <url> [count] [intervalMs] [stopFile] [header:value]
// (HTTP: the `mesh-proxy-error` header of the answers the proxy gave itself is counted in proxyErrors.)
//   client.ts grpc <host:port> [count] [intervalMs] [stopFile]
//   client.ts tcp <host:port> [count] [intervalMs] [stopFile]
// With stopFile, the client writes <stopFile>.started (epoch ms) as it begins sending, and stops
// (early, still printing its summary) once stopFile exists.
import {existsSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import * as grpc from '@grpc/grpc-js'
import {echoService} from './grpc-def.js'

const [mode, target, countArg, intervalArg, stopFile, headerArg] = process.argv.slice(2)
const headers: Record<string, string> = headerArg ? {[headerArg.slice(0, headerArg.indexOf(':'))]: headerArg.slice(headerArg.indexOf(':') + 1)} : {}
const proxyErrors: Record<string, number> = {}
const count = Math.min(Number(countArg ?? 1), 10_000)
const intervalMs = Number(intervalArg ?? 0)
const agent = new http.Agent({keepAlive: true, maxSockets: 4})
const pods: Record<string, number> = {}
/** Per pod, when (epoch ms) its last answer arrived: how fast a removed backend stops getting traffic. */
const last: Record<string, number> = {}
const statuses: Record<string, number> = {}
const errors: string[] = []
let ok = 0
let failed = 0

/** An answer that counts as a failure (HTTP 5xx): recorded in statuses, counted in failed. */
class FailedAnswer extends Error {
  constructor(readonly pod: string, readonly status: string, message: string) {
    super(message)
  }
}

function once(): Promise<{pod: string; status: string}> {
  if (mode === 'http') {
    return new Promise((resolve, reject) => {
      const req = http.get(target!, {agent, timeout: 5000, headers}, (res) => {
        const pe = res.headers['mesh-proxy-error']
        if (typeof pe === 'string') proxyErrors[pe] = (proxyErrors[pe] ?? 0) + 1
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => {
          let pod: string
          try { pod = (JSON.parse(body) as {pod: string}).pod } catch { pod = `non-json:${body.slice(0, 80)}` }
          if ((res.statusCode ?? 0) >= 500) reject(new FailedAnswer(pod, String(res.statusCode), `status ${res.statusCode}: ${body.slice(0, 200)}`))
          else resolve({pod, status: String(res.statusCode)})
        })
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
    })
  }
  if (mode === 'grpc') {
    return new Promise((resolve, reject) => {
      grpcClient.makeUnaryRequest('/e2e.Echo/Say', echoService['say']!.requestSerialize, echoService['say']!.responseDeserialize, {text: 'hi'},
        {deadline: Date.now() + 5000}, (err: grpc.ServiceError | null, res?: {pod: string}) => {
          if (err) reject(new Error(`grpc ${err.code} ${err.details}`))
          else resolve({pod: res!.pod, status: 'OK'})
        })
    })
  }
  if (mode === 'tcp') {
    const [host, port] = [target!.slice(0, target!.lastIndexOf(':')), Number(target!.slice(target!.lastIndexOf(':') + 1))]
    return new Promise((resolve, reject) => {
      const s = net.connect({host, port, timeout: 5000})
      let data = ''
      s.setEncoding('utf8')
      s.on('connect', () => s.write('ping\n'))
      s.on('data', (d: string) => {
        data += d
        const lines = data.split('\n')
        if (lines.length >= 3) {
          s.end()
          if (lines[1] === 'ping') resolve({pod: lines[0]!, status: 'echo'})
          else reject(new Error(`bad echo ${JSON.stringify(data)}`))
        }
      })
      s.on('timeout', () => s.destroy(new Error('timeout')))
      s.on('error', reject)
      s.on('close', () => reject(new Error(`closed after ${JSON.stringify(data)}`)))
    })
  }
  throw new Error(`unknown mode ${mode}`)
}

const grpcClient = mode === 'grpc' ? new grpc.Client(target!, grpc.credentials.createInsecure()) : (undefined as unknown as grpc.Client)
const started = Date.now()
if (stopFile) writeFileSync(`${stopFile}.started`, String(started))
for (let i = 0; i < count && !(stopFile && existsSync(stopFile)); i++) {
  const t = Date.now()
  try {
    const r = await once()
    ok++
    pods[r.pod] = (pods[r.pod] ?? 0) + 1
    last[r.pod] = Date.now()
    statuses[r.status] = (statuses[r.status] ?? 0) + 1
  } catch (err) {
    failed++
    if (err instanceof FailedAnswer) statuses[err.status] = (statuses[err.status] ?? 0) + 1
    if (errors.length < 5) errors.push(`${new Date().toISOString().slice(11, 23)} ${(err as Error).message}`)
  }
  const wait = intervalMs - (Date.now() - t)
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
}
process.stdout.write(`${JSON.stringify({ok, failed, pods, last, statuses, proxyErrors, errors, started, ms: Date.now() - started})}\n`)
grpcClient?.close()
agent.destroy()
