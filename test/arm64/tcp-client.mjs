// The client pod's TCP client in test/arm64/mesh.test.ts: sends <bytes> random bytes (the first
// one 0x00: neither HTTP nor TLS) to <host>:<port>, half-closes, and prints JSON {sha, reply}.
//   node tcp-client.mjs <host> <port> <bytes>
import {createHash, randomBytes} from 'node:crypto'
import net from 'node:net'

const [host, port, bytes] = process.argv.slice(2)
const data = randomBytes(Number(bytes))
data[0] = 0
const socket = net.connect({host, port: Number(port), allowHalfOpen: true})
let reply = ''
socket.setEncoding('utf8').on('data', (c) => (reply += c))
socket.on('connect', () => socket.end(data))
socket.on('end', () => process.stdout.write(JSON.stringify({sha: createHash('sha256').update(data).digest('hex'), reply})))
socket.on('error', (e) => { process.stdout.write(JSON.stringify({error: e.code ?? e.message})) })
setTimeout(() => { process.stdout.write(JSON.stringify({error: 'timeout'})); process.exit(0) }, 60_000).unref()
