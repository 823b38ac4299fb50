// The e2e gRPC service: one unary method, messages as JSON bytes (no .proto needed).
import type {ServiceDefinition} from '@grpc/grpc-js'

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): any => JSON.parse(b.toString('utf8')),
}

export const echoService: ServiceDefinition = {
  say: {
    path: '/e2e.Echo/Say', requestStream: false, responseStream: false,
    requestSerialize: json.serialize, requestDeserialize: json.deserialize,
    responseSerialize: json.serialize, responseDeserialize: json.deserialize,
  },
}
