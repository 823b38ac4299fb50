// The gRPC wire format, without a gRPC library: each message is a 5-byte prefix (compressed
// flag, big-endian length) then a protobuf message; the status travels in the trailers
// (grpc-status, grpc-message). The demo's messages only hold string and int fields, so a tiny
// protobuf codec (varint and length-delimited wire types) is enough, and any gRPC client
// (grpcurl, @grpc/grpc-js) can talk to the demo's services.

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNIMPLEMENTED: 12,
  RESOURCE_EXHAUSTED: 8,
} as const

/** Largest message either side accepts (the demo's are tiny). */
export const MAX_GRPC_MESSAGE = 64 * 1024

export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt8(0, 0)
  head.writeUInt32BE(message.length, 1)
  return Buffer.concat([head, message])
}

export class GrpcWireError extends Error {
  constructor(message: string, readonly status: number = GrpcStatus.INTERNAL) {
    super(message)
  }
}

/** Splits a complete body into messages; throws on a compressed, truncated or oversized one. */
export function unframe(body: Buffer): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  while (at < body.length) {
    if (body.length - at < 5) throw new GrpcWireError('truncated gRPC message prefix')
    if (body[at] !== 0) throw new GrpcWireError('compressed gRPC messages are not supported', GrpcStatus.UNIMPLEMENTED)
    const len = body.readUInt32BE(at + 1)
    if (len > MAX_GRPC_MESSAGE) throw new GrpcWireError(`gRPC message of ${len} bytes is over ${MAX_GRPC_MESSAGE}`, GrpcStatus.RESOURCE_EXHAUSTED)
    if (body.length - at - 5 < len) throw new GrpcWireError('truncated gRPC message')
    out.push(body.subarray(at + 5, at + 5 + len))
    at += 5 + len
  }
  return out
}

/** A protobuf message as field number -> value (strings and non-negative integers only). */
export type ProtoFields = Record<number, string | number | Array<string | number>>

function varint(n: number): Buffer {
  const bytes: number[] = []
  let v = n
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  bytes.push(v)
  return Buffer.from(bytes)
}

export function encodeProto(fields: ProtoFields): Buffer {
  const parts: Buffer[] = []
  for (const [key, value] of Object.entries(fields)) {
    const field = Number(key)
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'number') {
        parts.push(varint(field * 8), varint(v))
      } else {
        const bytes = Buffer.from(v, 'utf8')
        parts.push(varint(field * 8 + 2), varint(bytes.length), bytes)
      }
    }
  }
  return Buffer.concat(parts)
}

function readVarint(buf: Buffer, at: number): [number, number] {
  let result = 0
  let mul = 1
  for (let i = at; i < buf.length && i < at + 8; i++) {
    result += (buf[i]! & 0x7f) * mul
    if ((buf[i]! & 0x80) === 0) return [result, i + 1]
    mul *= 128
  }
  throw new GrpcWireError('malformed protobuf varint', GrpcStatus.INVALID_ARGUMENT)
}

/** Decodes varint and length-delimited fields; repeated fields become arrays. */
export function decodeProto(buf: Buffer): Record<number, Array<string | number>> {
  const out: Record<number, Array<string | number>> = {}
  let at = 0
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at)
    const field = Math.floor(tag / 8)
    const type = tag & 7
    let value: string | number
    if (type === 0) {
      ;[value, at] = readVarint(buf, next)
    } else if (type === 2) {
      const [len, start] = readVarint(buf, next)
      if (start + len > buf.length) throw new GrpcWireError('truncated protobuf field', GrpcStatus.INVALID_ARGUMENT)
      value = buf.toString('utf8', start, start + len)
      at = start + len
    } else {
      throw new GrpcWireError(`unsupported protobuf wire type ${type}`, GrpcStatus.INVALID_ARGUMENT)
    }
    ;(out[field] ??= []).push(value)
  }
  return out
}

/** grpc-message is percent-encoded (RFC 3986 unreserved characters pass). */
export function encodeGrpcMessage(text: string): string {
  return encodeURIComponent(text.slice(0, 512))
}
