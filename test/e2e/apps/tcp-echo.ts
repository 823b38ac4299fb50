// App image mesh-e2e/tcp-echo: a TCP server on $PORT (default 9000) that greets with
// "<pod>\n" and then echoes what it receives; a server-speaks-first protocol, so the mesh must
// carry it as opaque TCP.
import net from 'node:net'

const port = Number(process.env['PORT'] ?? 9000)
const pod = process.env['POD_NAME'] ?? 'unknown'
const server = net.createServer((s) => {
  s.on('error', () => {})
  s.write(`${pod}\n`)
  s.pipe(s)
})
server.listen(port, '0.0.0.0', () => process.stdout.write(`tcp-echo ${pod} listening on ${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
setTimeout(() => {}, 1 << 30)
