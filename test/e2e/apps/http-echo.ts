// App image mesh-e2e/http-echo: an HTTP/1.1 server on $PORT (default 8080) answering every
// request with JSON naming the pod ($POD_NAME), the method, path and the headers it got.
// `GET /status/<code>` answers with that status.
import http from 'node:http'

const port = Number(process.env['PORT'] ?? 8080)
const pod = process.env['POD_NAME'] ?? 'unknown'
const server = http.createServer({maxHeaderSize: 16_384}, (req, res) => {
  let size = 0
  req.on('data', (c: Buffer) => (size += c.length))
  req.on('end', () => {
    const m = /^\/status\/(\d{3})$/.exec(req.url ?? '')
    const body = JSON.stringify({pod, method: req.method, path: req.url, bodyBytes: size, headers: req.headers, remote: req.socket.remoteAddress})
    res.writeHead(m ? Number(m[1]) : 200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)})
    res.end(body)
  })
})
server.keepAliveTimeout = 30_000
server.listen(port, '0.0.0.0', () => process.stdout.write(`http-echo ${pod} listening on ${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
