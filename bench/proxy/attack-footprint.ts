// What each attack class of issue 19 (containment, framing, parser, retries) does to a real
// proxy pair: `mesh proxy` processes (compiled: `npm run build` first) in front of an app, each
// class repeated, the RSS and open fds of both processes printed before and after, whether they
// are still alive, and what nginx answers to the same bytes (an nginx pair in front of the same
// app, for comparison).
//   npx tsx bench/proxy/attack-footprint.ts [repetitions per class, default 50]
import {CRASH_ATTACKS, RawClient, startHoldApp, trailingByte, type Attack, type HoldApp, type Ports} from '../../test/proxy/attacks.js'
import {closeServer, request} from '../../test/proxy/helpers.js'
import {footprint, startRealPair, type RealPair} from '../../test/proxy/real-proxy.js'
import {nginxPair} from './setups.js'

const reps = Number(process.argv[2] ?? 50)

const SMUGGLE = 'GET /smuggled HTTP/1.1\r\nHost: web.local\r\n\r\n'

/** The other classes: framing, parser strictness, a head a byte at a time, a POST dropped by the app. */
const MORE: Attack[] = [
  {
    name: 'Connection: content-length with a request in the body (smuggling)',
    run: async (p) => {
      const c = new RawClient(p.outbound)
      c.write(`POST /one HTTP/1.1\r\nHost: web.local\r\nContent-Length: ${SMUGGLE.length}\r\nConnection: content-length\r\n\r\n${SMUGGLE}`)
      const got = await c.until(/HTTP\/1\.1 \d\d\d [^]*\r\n\r\n/)
      c.destroy()
      return got
    },
  },
  {
    name: 'lowercase method, PRI and chunk sizes llhttp refuses (parser)',
    run: async (p) => {
      let out = ''
      for (const bytes of ['get / HTTP/1.1\r\nHost: web.local\r\n\r\n', 'PRI / HTTP/1.1\r\nHost: web.local\r\n\r\n',
        'POST / HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
        'POST / HTTP/1.1\r\nHost: web.local\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n']) {
        const c = new RawClient(p.inbound)
        c.write(bytes)
        out += (await c.until(/HTTP\/1\.1 \d\d\d /)).split('\r\n')[0] + ' | '
        c.destroy()
      }
      return out
    },
  },
  {
    name: 'a 12 KB head sent a byte at a time',
    run: async (p) => {
      const c = new RawClient(p.inbound)
      c.socket.setNoDelay(true)
      const head = `GET /slow HTTP/1.1\r\nHost: web.local\r\nX-Pad: ${'p'.repeat(12_000)}\r\n\r\n`
      for (const ch of head) c.write(ch)
      const got = await c.until(/HTTP\/1\.1 \d\d\d /)
      c.destroy()
      return got
    },
  },
]

function statusOf(text: string): string {
  const lines = [...text.matchAll(/HTTP\/1\.1 (\d\d\d)[^\r]*/g)].map((m) => m[1])
  return lines.length === 0 ? '(closed, no answer)' : lines.join(',')
}

/** nginx's answer to the same bytes (its pair's front port stands for both of ours). */
async function nginxAnswer(port: number, attack: Attack, app: HoldApp, id: string): Promise<string> {
  const ports: Ports = {inbound: port, outbound: port}
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('(no answer in 5 s)'), 5000).unref())
  trailingByte.waitForPeerRead = false
  try {
    return await Promise.race([attack.run(ports, app, id).then(statusOf, (e: Error) => `(${e.message})`), timeout])
  } finally {
    trailingByte.waitForPeerRead = true
  }
}

async function main(): Promise<void> {
  const app = await startHoldApp()
  const pair: RealPair = await startRealPair('web.local:80', app.port)
  const nginx = await nginxPair(app.port)
  const ports: Ports = {inbound: pair.server.ports.inbound, outbound: pair.client.ports.outbound}
  const show = (f: {rssMb: number, fds: number}): string => `${f.rssMb.toFixed(1)} MB / ${String(f.fds).padStart(3)} fds`
  process.stdout.write(`codec ${process.env.MESH_PROXY_HTTP1_CODEC ?? 'raw'}, ${reps} repetitions per class; client proxy pid ${pair.client.pid}, server proxy pid ${pair.server.pid}\n\n`)
  process.stdout.write('| class | mesh answer | nginx answer | client proxy before -> after | server proxy before -> after | alive |\n|---|---|---|---|---|---|\n')
  // Warm both (pools, JIT) so that the first class does not pay for start-up.
  for (let i = 0; i < 20; i++) await request(ports.outbound, {path: `/warm/${i}`, headers: {host: 'web.local'}})
  let n = 0
  for (const attack of [...CRASH_ATTACKS, ...MORE]) {
    const before = [footprint(pair.client.pid), footprint(pair.server.pid)]
    let answer = ''
    for (let i = 0; i < reps; i++) answer = statusOf(await attack.run(ports, app, `f${n++}`))
    // The pair still serves, and both processes are there.
    const ok = (await request(ports.outbound, {path: '/after', headers: {host: 'web.local'}}).catch(() => ({status: 0}))).status === 200
    const after = [footprint(pair.client.pid), footprint(pair.server.pid)]
    const ng = await nginxAnswer(nginx.port, attack, app, `n${n++}`)
    process.stdout.write(`| ${attack.name} | ${answer} | ${ng} | ${show(before[0])} -> ${show(after[0])} | ${show(before[1])} -> ${show(after[1])} | ${pair.client.alive() && pair.server.alive() && ok ? 'yes' : 'NO'} |\n`)
  }
  await pair.close()
  await nginx.close()
  await closeServer(app.server)
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exitCode = 1
})
