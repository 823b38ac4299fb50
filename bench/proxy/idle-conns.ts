// What an idle keep-alive client connection costs a proxy: the mesh pair of this checkout (and,
// given, of another: a git worktree as for build-ab.ts), N client connections to the outbound
// proxy that each send one GET and then stay open, each proxy's private memory before and after
// (settled, twice), and the difference per connection. The outbound proxy holds the N client
// connections; the inbound one only the outbound's pooled few.
//   npx tsx bench/proxy/idle-conns.ts [connections=2000] [other checkout]
import net from 'node:net'
import {resolve} from 'node:path'
import {pathToFileURL, fileURLToPath} from 'node:url'
import {freePort, privateMB, start, stop, waitHttp} from './procs.js'
import {PROXY_RUNTIME_ENV} from '../../src/protocol/proxy-env.js'
import {buildDist, HOST, meshPair, type Setup} from './setups.js'

const N = Number(process.argv[2] ?? 2000)
const OTHER = process.argv[3]
const SETTLE_MS = 4000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Opens `n` connections to `port`, each sending one GET and reading its whole answer; they stay open. */
async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const socks: net.Socket[] = []
  for (let at = 0; at < n; at += 100) {
    await Promise.all(Array.from({length: Math.min(100, n - at)}, () => new Promise<void>((done, fail) => {
      const s = net.connect(port, '127.0.0.1')
      const deadline = setTimeout(() => fail(new Error('no answer in 10 s')), 10_000)
      s.on('error', fail)
      let got = ''
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1')
        const end = got.indexOf('\r\n\r\n')
        const len = Number(/content-length: *(\d+)/i.exec(got)?.[1] ?? 0)
        if (end >= 0 && got.length >= end + 4 + len) {
          clearTimeout(deadline)
          done()
        }
      })
      s.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nuser-agent: idle-conns\r\naccept: */*\r\n\r\n`)
      socks.push(s)
    })))
  }
  return socks
}

async function measure(label: string, setup: Setup): Promise<void> {
  await sleep(SETTLE_MS)
  const before = setup.procs.map((p) => privateMB(p.pid))
  const socks = await openIdle(setup.port, N)
  await sleep(SETTLE_MS)
  const after1 = setup.procs.map((p) => privateMB(p.pid))
  await sleep(SETTLE_MS)
  const after2 = setup.procs.map((p) => privateMB(p.pid))
  const cells = setup.procs.map((p, i) => `${p.label} ${before[i].toFixed(1)} -> ${after1[i].toFixed(1)} / ${after2[i].toFixed(1)} MB (${((after2[i] - before[i]) * 1024 / N).toFixed(2)} KB per connection)`)
  console.log(`${label.padEnd(14)} ${N} idle connections: ${cells.join('; ')}`)
  for (const s of socks) s.destroy()
}

const backendPort = await freePort()
const backend = start(process.execPath, [fileURLToPath(new URL('./backend.mjs', import.meta.url)), String(backendPort)])
await waitHttp(backendPort, HOST)
try {
  const mine = await meshPair(backendPort, buildDist(), PROXY_RUNTIME_ENV)
  try {
    await measure('this', mine)
  } finally {
    await mine.close()
  }
  if (OTHER !== undefined) {
    const other = (await import(pathToFileURL(resolve(OTHER, 'bench/proxy/setups.ts')).href)) as typeof import('./setups.js')
    const theirs = await other.meshPair(backendPort, other.buildDist(), PROXY_RUNTIME_ENV)
    try {
      await measure(OTHER, theirs)
    } finally {
      await theirs.close()
    }
  }
} finally {
  await stop([backend])
}
