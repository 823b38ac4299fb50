// Attacks on one compiled `mesh proxy` (as the image runs it, with the runtime tuning pods get),
// one class after another, with the proxy's resident memory and open file descriptors before,
// at their peak during, and after each (once what the attack opened is gone), and what the
// attack got. The regression suite (test/proxy/attacks-bounds.test.ts) runs scaled-down versions;
// this one runs the full numbers of issue 19 (10,000 idle connections).
//   npx tsx bench/proxy/attacks.ts [--idle=10000] [--dist=<compiled dist dir>] [--only=idle,loop,...] [--rounds=1]
// Attack classes: authority, loop, slowloris, slowheaders, idle, shapes, h2reset, h2streams.
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {readdirSync} from 'node:fs'
import {parseMetrics} from '../../src/metrics/parse.js'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {get, h2Attack, rst} from '../../test/proxy/h2-frames.js'
import {freePort, rssMB, start, stop, waitHttp} from './procs.js'
import {buildDist} from './setups.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const IDLE = Number(arg('idle') ?? 10_000)
const ONLY = arg('only')?.split(',')
/** Each class again this many times (memory that keeps growing round after round is kept, not a high-water mark). */
const ROUNDS = Number(arg('rounds') ?? 1)

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Sends `data` on a new connection; resolves with the status line's code ('' if none) once the proxy closes it or after `ms`. */
function raw(port: number, data: string, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let out = ''
    const t = setTimeout(() => s.destroy(), ms)
    s.on('data', (c: Buffer) => { out += c.toString('latin1'); if (out.includes('\r\n\r\n')) s.destroy() })
    s.on('error', () => {})
    s.on('close', () => { clearTimeout(t); resolve(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? '') })
    s.write(data)
  })
}

/** Runs `n` tasks, `concurrency` at a time; tallies their results. */
async function many(n: number, concurrency: number, task: (i: number) => Promise<string>): Promise<Record<string, number>> {
  const tally: Record<string, number> = {}
  let next = 0
  await Promise.all(Array.from({length: concurrency}, async () => {
    while (next < n) {
      const r = await task(next++)
      tally[r || 'closed'] = (tally[r || 'closed'] ?? 0) + 1
    }
  }))
  return tally
}

function legit(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({host: '127.0.0.1', port, path: '/', headers: {host}, agent: false, timeout: 20_000}, (res) => {
      res.resume()
      res.on('end', () => resolve(String(res.statusCode)))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve('error'))
  })
}

interface Row {name: string, rss: [number, number, number], fd: [number, number, number], outcome: string}

async function main(): Promise<void> {
  const dist = arg('dist') ?? buildDist()
  const [appPort, inPort, outPort, adminPort, tapPort] = await Promise.all(Array.from({length: 5}, freePort))
  const app = start(process.execPath, [join(ROOT, 'bench/proxy/backend.mjs'), String(appPort)])
  let h2streams = 0
  const h2app = http2.createServer()
  h2app.on('stream', (s) => {
    h2streams++
    s.on('error', () => {})
    setTimeout(() => { if (!s.destroyed) { s.respond({':status': 200}); s.end('h2') } }, 100)
  })
  const h2port = await new Promise<number>((resolve) => h2app.listen(0, '127.0.0.1', () => resolve((h2app.address() as net.AddressInfo).port)))
  const proxy = start(process.execPath, [join(ROOT, 'bench/proxy/sidecar.mjs'), dist], {
    ...PROXY_RUNTIME_ENV,
    MESH_PROXY_LOG_LEVEL: 'error',
    MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inPort}`, MESH_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outPort}`,
    MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${adminPort}`, MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${tapPort}`,
    MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${appPort}`,
    MESH_PROXY_STATIC_ROUTES: `web.local:80=127.0.0.1:${appPort};h2.local:80=127.0.0.1:${h2port}`,
    MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '1',
  })
  const pid = proxy.pid!
  const rows: Row[] = []
  try {
    await waitHttp(outPort, 'web.local', 60_000)
    await waitHttp(inPort, 'web.local', 60_000)
    // (the admin server starts last: a port taken meanwhile by another process ends the proxy there)
    const ready = await new Promise<number>((resolve) => http.get({host: '127.0.0.1', port: adminPort, path: '/ready'}, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', () => resolve(0)))
    if (ready !== 200 || proxy.exitCode !== null) throw new Error(`the proxy did not start (admin /ready: ${ready}); run again`)
    await many(200, 4, () => legit(outPort, 'web.local'))
    const base = {rss: rssMB(pid), fd: fds(pid)}
    process.stderr.write(`proxy ${pid}: ${base.rss.toFixed(1)} MB, ${base.fd} fds after warm-up\n`)

    const measure = async (name: string, attack: () => Promise<string>): Promise<void> => {
      if (ONLY && !ONLY.includes(name.slice(0, name.indexOf(':')))) return
      if (proxy.exitCode !== null) throw new Error(`the proxy exited (${proxy.exitCode}) before ${name}`)
      const before = {rss: rssMB(pid), fd: fds(pid)}
      const peak = {...before}
      const sampler = setInterval(() => {
        try {
          peak.rss = Math.max(peak.rss, rssMB(pid))
          peak.fd = Math.max(peak.fd, fds(pid))
        } catch { /* gone */ }
      }, 25)
      process.stderr.write(`${name}...\n`)
      let outcome = await attack()
      clearInterval(sampler)
      // After: what the attack opened is gone (or 40 s passed).
      const deadline = Date.now() + 40_000
      while (Date.now() < deadline && proxy.exitCode === null && fds(pid) > before.fd + 8) await sleep(200)
      if (proxy.exitCode !== null) outcome += `; PROXY EXITED ${proxy.exitCode ?? proxy.signalCode}`
      else outcome += `; legit after: ${await legit(outPort, 'web.local')}`
      const alive = proxy.exitCode === null
      rows.push({name, rss: [before.rss, peak.rss, alive ? rssMB(pid) : NaN], fd: [before.fd, peak.fd, alive ? fds(pid) : NaN], outcome})
    }

    for (let round = 1; round <= ROUNDS; round++) {
      await measure('authority: 3,000 requests with Host foo.local:abc / :99999 / user@, 20 at a time', async () => {
        const hosts = ['foo.local:abc', 'foo.local:99999', 'a@web.local:80']
        const t = await many(3000, 20, (i) => raw(i % 2 ? outPort : inPort, `GET / HTTP/1.1\r\nHost: ${hosts[i % 3]}\r\nConnection: close\r\n\r\n`))
        return `answers ${JSON.stringify(t)}`
      })
      await measure('loop: 3,000 requests naming the outbound port as 127.1, 2130706433, [::ffff:127.0.0.1], 0x7f.1, localhost, 20 at a time', async () => {
        const forms = ['127.1', '2130706433', '[::ffff:127.0.0.1]', '0x7f.1', 'localhost']
        const t = await many(3000, 20, (i) => raw(outPort, `GET / HTTP/1.1\r\nHost: ${forms[i % 5]}:${outPort}\r\nConnection: close\r\n\r\n`))
        return `answers ${JSON.stringify(t)}`
      })
      const slowloris = (name: string, head: string, first: string): Promise<void> => measure(name, async () => {
        const t = await many(1000, 1000, () => new Promise((resolve) => {
          const s = net.connect(inPort, '127.0.0.1')
          let out = ''
          let k = 0
          const drip = setInterval(() => { if (k < head.length) s.write(head[k++]) }, 1000)
          s.on('data', (c: Buffer) => (out += c.toString('latin1')))
          s.on('error', () => {})
          s.on('close', () => { clearInterval(drip); resolve(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? '') })
          s.on('connect', () => s.write(first))
        }))
        return `answers ${JSON.stringify(t)}`
      })
      await slowloris('slowloris: 1,000 connections sending their request line a byte a second', 'GET /slow HTTP/1.1\r\nHost: web.local\r\n\r\n', 'G')
      await slowloris('slowheaders: 1,000 connections sending the request line, then a header byte a second', 'X-Slow: 1\r\n'.repeat(40), 'GET /slow HTTP/1.1\r\nHost: web.local\r\n')
      await measure(`idle: ${IDLE.toLocaleString('en')} idle connections held open, 500 legitimate requests meanwhile`, async () => {
        const sockets: net.Socket[] = []
        let closedByProxy = 0
        const opened = await many(IDLE, 200, () => new Promise((resolve) => {
          const s = net.connect(inPort, '127.0.0.1')
          sockets.push(s)
          s.on('error', () => {})
          s.once('close', () => closedByProxy++)
          s.once('connect', () => resolve('open'))
          s.once('close', () => resolve('closed'))
        }))
        const ok = await many(500, 10, () => legit(inPort, 'web.local'))
        // Hold them until the proxy closes them (the detect timeout), or 30 s.
        const deadline = Date.now() + 30_000
        while (Date.now() < deadline && closedByProxy < sockets.length) await sleep(200)
        const left = sockets.length - closedByProxy
        for (const s of sockets) s.destroy()
        return `connects ${JSON.stringify(opened)}; legit ${JSON.stringify(ok)}; closed by the proxy: ${closedByProxy} of ${sockets.length}${left ? ` (${left} still open at 30 s)` : ''}`
      })
      await measure('shapes: 3,000 lowercase/unknown-method/HTTP-0.9 requests, 20 at a time', async () => {
        const reqs = ['get / HTTP/1.1\r\nHost: web.local\r\n\r\n', 'FOO / HTTP/1.1\r\nHost: web.local\r\n\r\n', 'GET /\r\n\r\n']
        const t = await many(3000, 20, (i) => raw(inPort, reqs[i % 3]))
        return `answers ${JSON.stringify(t)}`
      })
      await measure('h2reset: 20 connections x 2,000 HEADERS+RST_STREAM (rapid reset)', async () => {
        const before = h2streams
        const chunks: Buffer[] = []
        for (let i = 0; i < 2000; i++) chunks.push(get(1 + 2 * i, 'h2.local'), rst(1 + 2 * i))
        const seen = await Promise.all(Array.from({length: 20}, () => h2Attack(outPort, chunks, 30_000)))
        const codes = seen.map((s) => s.goaway?.code ?? 'none')
        return `streams that reached the app: ${h2streams - before} (of 40,000); GOAWAY codes ${JSON.stringify(countOf(codes))}`
      })
      await measure('h2streams: 20 connections x 1,000 streams, the concurrent limit ignored', async () => {
        const before = h2streams
        const chunks: Buffer[] = []
        for (let i = 0; i < 1000; i++) chunks.push(get(1 + 2 * i, 'h2.local'))
        const seen = await Promise.all(Array.from({length: 20}, () => h2Attack(outPort, chunks, 30_000)))
        return `streams that reached the app: ${h2streams - before} (of 20,000); refused ${seen.reduce((n, s) => n + s.resets, 0)}`
      })

    }
    const metrics = await new Promise<string>((resolve) => http.get({host: '127.0.0.1', port: adminPort, path: '/metrics'}, (res) => {
      let b = ''
      res.on('data', (c: Buffer) => (b += c))
      res.on('end', () => resolve(b))
    }).on('error', () => resolve('')))
    const refused = parseMetrics(metrics).get('mesh_proxy_refused_total')?.samples.filter((s) => s.value > 0).map((s) => `${s.labels.direction}/${s.labels.reason}=${s.value}`)
    console.log('\n| attack | RSS MB before / peak / after | fds before / peak / after | outcome |')
    console.log('|---|---|---|---|')
    for (const r of rows) console.log(`| ${r.name} | ${r.rss.map((x) => x.toFixed(1)).join(' / ')} | ${r.fd.join(' / ')} | ${r.outcome} |`)
    console.log(`\nmesh_proxy_refused_total: ${refused?.join(', ') ?? '(none)'}`)
    console.log(`proxy ${proxy.exitCode === null ? `alive: ${rssMB(pid).toFixed(1)} MB, ${fds(pid)} fds` : `EXITED ${proxy.exitCode ?? proxy.signalCode}`}`)
  } finally {
    await stop([proxy, app])
    h2app.close()
  }
}

function countOf(xs: Array<string | number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of xs) out[String(x)] = (out[String(x)] ?? 0) + 1
  return out
}

await main()
