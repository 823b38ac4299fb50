// Tap and stat through the real local tap server and real proxies (test/tap/harness.ts):
// - stat: latency of GET /v1/stat for two meshed pods (scrape + parse + compute), 20 queries;
// - tap: 2,000 requests (concurrency 8) through a proxy while one tap stream is open: request
//   rate with and without the stream, and the share of events delivered to the CLI.
// Run: npx tsx bench/tap.ts. Bounded in count; 127.0.0.1 only.
import {TapApi, type TapStreamMessage} from '../src/control/tap/api.js'
import {getJson, openTapStream} from '../src/tapclient/client.js'
import type {ControlPlaneTarget} from '../src/tapclient/target.js'
import {send, startLocalPlane, startMeshPod} from '../test/tap/harness.js'

const N = 2000
const CONCURRENCY = 8

async function load(web: Awaited<ReturnType<typeof startMeshPod>>): Promise<number> {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({length: CONCURRENCY}, async () => {
    while (next < N) {
      next++
      await send(web, 'books:80', '/ok')
    }
  }))
  return N / ((performance.now() - t0) / 1000)
}

const books = await startMeshPod({name: 'books-0', deployment: 'books'})
const web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
const plane = await startLocalPlane([books.info, web.info])
const target: ControlPlaneTarget = {mode: 'local', baseUrl: plane.server.url, namespace: 'default', requestOptions: {headers: {authorization: `Bearer ${plane.token}`}}, description: 'bench'}

const base = await load(web)
let events = 0
let started!: () => void
const ready = new Promise<void>((r) => (started = r))
const stream = openTapStream(target, TapApi.tap, {resource: 'deploy/web', namespace: 'default', maxRps: '10000'}, (m: TapStreamMessage) => {
  if (m.type === 'podStart') started()
  if (m.type === 'event') events++
})
await ready
const tapped = await load(web)
await new Promise((r) => setTimeout(r, 500))
stream.close()
await stream.done

const times: number[] = []
for (let i = 0; i < 20; i++) {
  const t0 = performance.now()
  await getJson(target, TapApi.stat, {resource: 'deploy', namespace: 'default', window: '1m'})
  times.push(performance.now() - t0)
}
times.sort((a, b) => a - b)
console.log(`requests/s without tap: ${base.toFixed(0)}`)
console.log(`requests/s with one tap stream: ${tapped.toFixed(0)}`)
console.log(`tap events delivered: ${events} of ${N * 3} (${((events / (N * 3)) * 100).toFixed(1)}%)`)
console.log(`stat query (2 pods): median ${times[10].toFixed(1)} ms, max ${times[19].toFixed(1)} ms`)
await plane.close()
await Promise.all([books.stop(), web.stop()])
