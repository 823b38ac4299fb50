// A gRPC server on Node's http2 (cleartext HTTP/2, as behind a sidecar): unary methods only.
// Each handler gets the decoded request fields and returns the response fields, or throws a
// GrpcWireError carrying the status to send in the trailers.
import http2 from 'node:http2'
import {decodeProto, encodeGrpcMessage, encodeProto, frame, GrpcStatus, GrpcWireError, MAX_GRPC_MESSAGE, unframe, type ProtoFields} from './grpc-wire.js'

export type UnaryHandler = (request: Record<number, Array<string | number>>) => Promise<ProtoFields> | ProtoFields

export interface GrpcServer {
  server: http2.Http2Server
  close(): Promise<void>
}

/** `methods` maps a full path (`/demo.Authors/GetAuthor`) to its handler. */
export function createGrpcServer(methods: Record<string, UnaryHandler>): http2.Http2Server {
  const server = http2.createServer({maxSessionMemory: 10, peerMaxConcurrentStreams: 100})
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    const path = String(headers[':path'] ?? '')
    const trailersOnly = (status: number, message: string): void => {
      if (stream.destroyed) return
      stream.respond({':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message)}, {endStream: true})
    }
    if (headers[':method'] !== 'POST' || !String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.respond({':status': 415, 'content-type': 'text/plain'}, {endStream: false})
      stream.end('gRPC requests are POST with content-type application/grpc\n')
      return
    }
    const handler = methods[path]
    if (!handler) return trailersOnly(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`)
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_GRPC_MESSAGE + 5) {
        trailersOnly(GrpcStatus.RESOURCE_EXHAUSTED, 'request too large')
        stream.close(http2.constants.NGHTTP2_CANCEL)
        return
      }
      chunks.push(c)
    })
    stream.on('end', () => {
      if (stream.destroyed || stream.headersSent) return
      void (async () => {
        try {
          const messages = unframe(Buffer.concat(chunks))
          if (messages.length !== 1) throw new GrpcWireError(`a unary call carries one message, not ${messages.length}`, GrpcStatus.INVALID_ARGUMENT)
          const reply = await handler(decodeProto(messages[0]!))
          if (stream.destroyed) return
          stream.respond({':status': 200, 'content-type': 'application/grpc'}, {waitForTrailers: true})
          stream.on('wantTrailers', () => stream.sendTrailers({'grpc-status': '0', 'grpc-message': ''}))
          stream.end(frame(encodeProto(reply)))
        } catch (err) {
          const status = err instanceof GrpcWireError ? err.status : GrpcStatus.INTERNAL
          trailersOnly(status, (err as Error).message)
        }
      })()
    })
  })
  return server
}
