// Runs inside a test network namespace (ip netns exec): listens on the given ports and prints
// one JSON line per accepted connection with its SO_ORIGINAL_DST; with --admin/--tap also runs
// the proxy's admin and tap servers on 0.0.0.0 (local mode). Prints "ready" once listening.
import {createServer} from 'node:net'
import {createProxyMetrics} from '../../src/metrics/index.js'
import {startAdmin} from '../../src/proxy/admin/index.js'
import {originalDst} from '../../src/proxy/net/original-dst.js'
import {TapHub, startTapServer} from '../../src/proxy/tap/index.js'

const args = process.argv.slice(2)
const ports = args.filter((a) => /^\d+$/.test(a)).map(Number)
const host = args.find((a) => a.startsWith('--host='))?.slice(7) ?? '0.0.0.0'

for (const port of ports) {
  createServer((s) => {
    process.stdout.write(`${JSON.stringify({listener: port, remote: s.remoteAddress, orig: originalDst(s) ?? null})}\n`)
    s.end(`${port}\n`)
  }).listen(port, host)
}
if (args.includes('--admin')) {
  const {registry} = createProxyMetrics()
  await startAdmin({listen: '0.0.0.0:4191', registry, ready: () => true, onShutdown: () => {}, getLogLevel: () => 'info', setLogLevel: () => {}})
}
if (args.includes('--tap')) await startTapServer({listen: '0.0.0.0:4190', hub: new TapHub()})
setTimeout(() => process.stdout.write('ready\n'), 200)
setTimeout(() => process.exit(0), 120_000).unref()
