// The benchmark's application: answers every request with 1 KiB (keep-alive).
import http from 'node:http'
import {Buffer} from 'node:buffer'
import process from 'node:process'
const body = Buffer.alloc(1024, 'a')
http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, {'content-type': 'text/plain', 'content-length': body.length})
  res.end(body)
}).listen(Number(process.argv[2]), '127.0.0.1')
