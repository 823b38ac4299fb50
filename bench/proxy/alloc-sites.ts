// Where the proxy pair allocates per request: both proxies in this process (the raw codec,
// plaintext), a keep-alive client sending sequential GETs to a minimal backend, V8's sampling
// heap profiler over the run. Prints bytes allocated per request by function (our code and
// Node's), sampled: an estimate, for finding what to cut, not a measure of speed.
//   npx tsx bench/proxy/alloc-sites.ts [requests=20000] [--interval=256] [--callers=NAME]
import inspector from 'node:inspector/promises'
import net from 'node:net'
import {startProxy} from '../../src/proxy/server.js'
import {Logger} from '../../src/proxy/core/log.js'
import {loadProxyConfig, type ProxyConfig} from '../../src/proxy/config/config.js'

const N = Number(process.argv.slice(2).find((a) => /^\d/.test(a)) ?? 20000)
const INTERVAL = Number(process.argv.find((a) => a.startsWith('--interval='))?.slice(11) ?? 256)
/** --callers=NAME: also where NAME's allocations come from. */
const CALLERS = process.argv.find((a) => a.startsWith('--callers='))?.slice(10)
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok', 'latin1')

interface Node { callFrame: {functionName: string, url: string, lineNumber: number}, selfSize: number, children: Node[] }

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as net.AddressInfo).port
}

async function main(): Promise<void> {
  process.env.MESH_PROXY_HTTP1_CODEC = 'raw'
  const backend = net.createServer((s) => {
    s.setNoDelay(true)
    s.on('data', (d) => {
      let n = 0
      for (let i = d.indexOf('\r\n\r\n'); i >= 0; i = d.indexOf('\r\n\r\n', i + 4)) n++
      for (let i = 0; i < n; i++) s.write(RESPONSE)
    })
  })
  const appPort = await listen(backend)
  const log = new Logger('error', 'plain')
  const config = (routes: string, overrides: Partial<ProxyConfig> = {}): ProxyConfig => ({
    ...loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0', staticRoutes: routes}), ...overrides,
  })
  const inbound = await startProxy(config('', {inboundForward: {host: '127.0.0.1', port: appPort}}), {log, originalDst: null})
  const outbound = await startProxy(config(`web.local:80=127.0.0.1:${inbound.ports.inbound}`), {log, originalDst: null})
  const sock = net.connect(outbound.ports.outbound, '127.0.0.1')
  sock.setNoDelay(true)
  await new Promise<void>((r) => sock.once('connect', r))
  const req = Buffer.from('GET /items/42 HTTP/1.1\r\nhost: web.local\r\nuser-agent: alloc-sites\r\naccept: */*\r\n\r\n', 'latin1')
  let done = 0
  let onDone!: () => void
  const all = new Promise<void>((r) => { onDone = r })
  let target = 0
  sock.on('data', (d: Buffer) => {
    for (let i = d.indexOf('\r\n\r\nok'); i >= 0; i = d.indexOf('\r\n\r\nok', i + 6)) done++
    if (done >= target) onDone()
    else sock.write(req)
  })
  const run = async (n: number): Promise<void> => {
    target = done + n
    const p = new Promise<void>((r) => { onDone = r })
    sock.write(req)
    await p
  }
  await run(2000) // warm-up
  void all
  const session = new inspector.Session()
  session.connect()
  await session.post('HeapProfiler.startSampling', {samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true})
  await run(N)
  const {profile} = await session.post('HeapProfiler.stopSampling') as {profile: {head: Node}}
  const by = new Map<string, number>()
  let total = 0
  const walk = (n: Node): void => {
    const f = n.callFrame
    const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/src\//, 'src/').replace(/^node:internal\//, '')}:${f.lineNumber + 1}`
    by.set(k, (by.get(k) ?? 0) + n.selfSize)
    total += n.selfSize
    for (const c of n.children) walk(c)
  }
  walk(profile.head)
  console.log(`${N} requests through the pair: ~${(total / N).toFixed(0)} bytes allocated per request (both proxies and this client), sampled every ${INTERVAL} bytes`)
  for (const [k, b] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(`${(b / N).toFixed(0).padStart(7)} B/req  ${k}`)
  if (CALLERS !== undefined) {
    // Who the function named by --callers= allocates for: its callers, three frames up, by bytes.
    const chains = new Map<string, number>()
    const up = (n: Node, path: Node[]): void => {
      if ((n.callFrame.functionName || '(anonymous)') === CALLERS && n.selfSize > 0) {
        const k = path.slice(-3).reverse().map((p) => `${p.callFrame.functionName || '(anonymous)'} ${p.callFrame.url.replace(/^.*\/src\//, 'src/').replace(/^node:internal\//, '')}:${p.callFrame.lineNumber + 1}`).join(' < ')
        chains.set(k, (chains.get(k) ?? 0) + n.selfSize)
      }
      for (const c of n.children) up(c, [...path, n])
    }
    up(profile.head, [])
    console.log(`${CALLERS}'s allocations by caller:`)
    for (const [k, b] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${(b / N).toFixed(0).padStart(7)} B/req  ${k}`)
  }
  sock.destroy()
  await Promise.all([outbound.close(100), inbound.close(100)])
  backend.close()
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
