// The server pod's application in test/arm64/mesh.test.ts (run by this machine's node): HTTP/1.1
// and h2c (prior knowledge) on one port, answering JSON {proto, path, authority, remote}; and a
// TCP service that reads until the client half-closes, then answers `len=<n> sha=<hex>
// remote=<addr>` and ends. `remote` tells who connected (through the proxy: 127.0.0.1).
//   node app.mjs <http port> <tcp port>     prints "ready" once both listen (all addresses)
import {createHash} from 'node:crypto'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'

const [httpPort, tcpPort] = process.argv.slice(2).map(Number)
const answer = (proto, path, authority, remote) => JSON.stringify({proto, path, authority, remote})
const h1 = http.createServer((req, res) => res.end(answer('h1', req.url, req.headers.host, req.socket.remoteAddress)))
const h2 = http2.createServer()
h2.on('stream', (stream, headers) => {
  stream.respond({':status': 200})
  stream.end(answer('h2', headers[':path'], headers[':authority'], stream.session.socket.remoteAddress))
})
const web = net.createServer((socket) => {
  socket.once('data', (chunk) => {
    socket.pause()
    socket.unshift(chunk)
    // (HTTP/2 takes the socket over as it is; only HTTP/1 reads it as a resumed stream)
    if (chunk.toString('latin1', 0, 3) === 'PRI') return void h2.emit('connection', socket)
    h1.emit('connection', socket)
    socket.resume()
  })
})
const tcp = net.createServer({allowHalfOpen: true}, (socket) => {
  const hash = createHash('sha256')
  let n = 0
  socket.on('data', (c) => { n += c.length; hash.update(c) })
  socket.on('end', () => socket.end(`len=${n} sha=${hash.digest('hex')} remote=${socket.remoteAddress}`))
})
let listening = 0
const up = () => { if (++listening === 2) process.stdout.write('ready\n') }
web.listen(httpPort, '0.0.0.0', up)
tcp.listen(tcpPort, '0.0.0.0', up)
