// A unary gRPC client on Node's http2, sending through the local proxy's outbound listener
// (cleartext HTTP/2 with the service's :authority; the proxies carry it over mTLS).
import http2 from 'node:http2'
import {decodeProto, encodeProto, frame, GrpcStatus, GrpcWireError, MAX_GRPC_MESSAGE, unframe, type ProtoFields} from './grpc-wire.js'

export interface GrpcReply {
  fields: Record<number, Array<string | number>>
}

export class GrpcClient {
  private session: http2.ClientHttp2Session | undefined

  /** `via`: http://127.0.0.1:<outbound port>; `authority`: the service, e.g. authors.demo.svc.cluster.local:80. */
  constructor(private readonly via: string, private readonly authority: string) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session
    const s = http2.connect(this.via)
    s.on('error', () => {})
    s.on('close', () => { if (this.session === s) this.session = undefined })
    s.on('goaway', () => { if (this.session === s) this.session = undefined })
    this.session = s
    return s
  }

  /** Calls `path` (e.g. /demo.Authors/GetAuthor); rejects with a GrpcWireError on a non-OK status. */
  call(path: string, request: ProtoFields, timeoutMs = 5000): Promise<GrpcReply> {
    return new Promise((resolve, reject) => {
      let req: http2.ClientHttp2Stream
      try {
        req = this.connect().request({
          ':method': 'POST', ':path': path, ':authority': this.authority, ':scheme': 'http',
          'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${timeoutMs}m`,
        })
      } catch (err) {
        this.session = undefined
        return reject(new GrpcWireError(`cannot start the call: ${(err as Error).message}`, GrpcStatus.UNAVAILABLE))
      }
      const chunks: Buffer[] = []
      let size = 0
      let status: string | undefined
      let message = ''
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL)
        reject(new GrpcWireError(`deadline of ${timeoutMs} ms exceeded`, GrpcStatus.DEADLINE_EXCEEDED))
      }, timeoutMs)
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status'])
          message = decodeURIComponent(String(h['grpc-message'] ?? ''))
        }
      }
      req.on('response', (h) => {
        if (h[':status'] !== 200) {
          status = String(GrpcStatus.UNAVAILABLE)
          message = `HTTP status ${String(h[':status'])}${h['mesh-proxy-error'] ? `: ${String(h['mesh-proxy-error'])}` : ''}`
        }
        take(h)
      })
      req.on('trailers', take)
      req.on('data', (c: Buffer) => {
        size += c.length
        if (size <= MAX_GRPC_MESSAGE + 5) chunks.push(c)
      })
      req.on('error', (err) => {
        clearTimeout(timer)
        reject(new GrpcWireError(err.message, GrpcStatus.UNAVAILABLE))
      })
      req.on('close', () => {
        clearTimeout(timer)
        if (status === undefined) return reject(new GrpcWireError('the call ended without a grpc-status', GrpcStatus.INTERNAL))
        if (status !== '0') return reject(new GrpcWireError(message || `grpc-status ${status}`, Number(status)))
        try {
          const messages = unframe(Buffer.concat(chunks))
          resolve({fields: messages.length > 0 ? decodeProto(messages[0]!) : {}})
        } catch (err) {
          reject(err)
        }
      })
      req.end(frame(encodeProto(request)))
    })
  }

  close(): void {
    this.session?.close()
    this.session = undefined
  }
}
