// App image mesh-e2e/grpc-echo: a gRPC server (@grpc/grpc-js) on $PORT (default 9090) with
// one unary method /e2e.Echo/Say (JSON-encoded messages) answering {pod, text}; a text of
// "fail" answers with status FAILED_PRECONDITION.
import * as grpc from '@grpc/grpc-js'
import {echoService} from './grpc-def.js'

const port = Number(process.env['PORT'] ?? 9090)
const pod = process.env['POD_NAME'] ?? 'unknown'
const server = new grpc.Server()
server.addService(echoService, {
  say: (call: grpc.ServerUnaryCall<{text: string}, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    if (call.request.text === 'fail') return cb({code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail'})
    cb(null, {pod, text: call.request.text})
  },
})
server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err
  process.stdout.write(`grpc-echo ${pod} listening on ${port}\n`)
})
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)))
