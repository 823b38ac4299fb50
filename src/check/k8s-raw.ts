// A plain GET to the API server with the kubeconfig's credentials, for what client-node's
// typed clients hide: the response's Date header (clock skew) and the pod proxy to a proxy's
// admin port. Bounded in time and size.
import type {IncomingHttpHeaders} from 'node:http'
import {timeoutError, type Kube} from '../k8s/client.js'

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface RawOptions {
  /** Deadline of the whole exchange (default: the kube's --request-timeout; 0: none). */
  timeoutMs?: number
  /** Largest body read; longer bodies fail the request. Default 1 MiB. */
  maxBytes?: number
}

export async function rawGet(kube: Kube, path: string, options: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(path, kube.server.endsWith('/') ? kube.server : kube.server + '/')
  const [{default: https}, {default: http}] = await Promise.all([import('node:https'), import('node:http')])
  const opts: import('node:https').RequestOptions = {method: 'GET', headers: {accept: 'application/json, */*'}}
  await kube.kc.applyToHTTPSOptions(opts)
  const timeoutMs = options.timeoutMs ?? kube.requestTimeoutMs
  const maxBytes = options.maxBytes ?? 1024 * 1024
  const mod = url.protocol === 'http:' ? http : https
  return new Promise((resolve, reject) => {
    const req = mod.request(url, {...opts, agent: false}, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) {
          req.destroy(new Error(`response to GET ${url.pathname} is larger than ${maxBytes} bytes`))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8')}))
      res.on('error', reject)
    })
    const timer = timeoutMs > 0 ? setTimeout(() => req.destroy(timeoutError(url.origin, timeoutMs)), timeoutMs) : undefined
    req.on('close', () => clearTimeout(timer))
    req.on('error', reject)
    req.end()
  })
}
