// App image mesh-e2e/http-echo: an HTTP/1.1 server on $PORT (default 8080) answering every
// request with JSON naming the pod ($POD_NAME), the method, path and the headers it got.
// A path ending in `/status/<code>` answers with that status; ending in `/delay/<ms>` answers
// after that long (at most 10 s); holding `/flaky` fails every third such request of this
// process with a 500 (1 in 3: what a route's retries must recover).
import http from 'node:http'

const port = Number(process.env['PORT'] ?? 8080)
const pod = process.env['POD_NAME'] ?? 'unknown'
let flaky = 0
const server = http.createServer({maxHeaderSize: 16_384}, (req, res) => {
  let size = 0
  req.on('data', (c: Buffer) => (size += c.length))
  req.on('end', () => {
    const url = req.url ?? ''
    const m = /\/status\/(\d{3})$/.exec(url)
    const delay = Math.min(10_000, Number(/\/delay\/(\d{1,5})$/.exec(url)?.[1] ?? 0))
    const status = m ? Number(m[1]) : url.includes('/flaky') && ++flaky % 3 === 0 ? 500 : 200
    const body = JSON.stringify({pod, method: req.method, path: req.url, bodyBytes: size, headers: req.headers, remote: req.socket.remoteAddress})
    const answer = (): void => {
      if (res.destroyed) return
      res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)})
      res.end(body)
    }
    if (delay > 0) setTimeout(answer, delay)
    else answer()
  })
})
server.keepAliveTimeout = 30_000
server.listen(port, '0.0.0.0', () => process.stdout.write(`http-echo ${pod} listening on ${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
