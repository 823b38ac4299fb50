// The floor of any Node proxy, for comparison: a TCP relay that parses nothing, one upstream
// connection per downstream connection, every chunk written on as it is read.
//   node bench/proxy/relay.mjs <listen port> <upstream port>
import net from 'node:net'
import process from 'node:process'
if (process.env.MESH_BENCH_PAUSES) await import('./pauses.mjs')
const [listen, upstream] = process.argv.slice(2).map(Number)
net.createServer((down) => {
  const up = net.connect(upstream, '127.0.0.1')
  down.setNoDelay(true)
  up.setNoDelay(true)
  down.on('data', (d) => up.write(d))
  up.on('data', (d) => down.write(d))
  down.on('close', () => up.destroy())
  up.on('close', () => down.destroy())
  down.on('error', () => {})
  up.on('error', () => {})
}).listen(listen, '127.0.0.1')
