// Cost of the proxy's observers per request (requestInit + responseInit + responseEnd), in
// nanoseconds: the metrics observer (and with requests a control-plane route policy routed,
// which also count in the route_* families), tap with no subscriber, tap with one matching subscriber,
// and a /metrics scrape. Run: npx tsx bench/proxy-observers.ts
import {createProxyMetrics} from '../src/metrics/index.js'
import type {RequestMeta} from '../src/proxy/core/observe.js'
import {TapHub, parseTapFilter} from '../src/proxy/tap/index.js'

const N = 300_000
const tls = {tls: true, clientId: 'web.default.serviceaccount.identity.mesh-system.cluster.local'}
const dst = {dst_namespace: 'default', dst_deployment: 'api', dst_pod: 'api-0', dst_serviceaccount: 'api'}
const reqs: RequestMeta[] = Array.from({length: 1000}, (_, i) => ({
  id: String(i), direction: 'outbound', method: 'GET', scheme: 'http', authority: `api-${i % 10}.default.svc.cluster.local:80`, path: '/items',
  route: '', headers: {'user-agent': 'bench'}, source: {ip: '10.0.0.1', port: 40000}, destination: {ip: '10.0.0.2', port: 80},
  tls, dstLabels: dst, startMs: performance.now(), requestSeries: undefined, statusSeries: undefined,
}))

/** The same requests routed by a control-plane route policy: two routes per authority. */
const routed: RequestMeta[] = reqs.map((r, i) => ({...r, route: `api-${i % 2}`, routeKind: 'HTTPRoute', backend: 'default/api:80'}))

function bench(name: string, o: {requestInit(r: RequestMeta): void; responseInit(r: RequestMeta, s: number): void; responseEnd(r: RequestMeta, e: {status: number; responseBytes: number}): void}, list = reqs) {
  for (let i = 0; i < 20_000; i++) run(i)
  function run(i: number) {
    const r = list[i % list.length]
    o.requestInit(r)
    o.responseInit(r, 200)
    o.responseEnd(r, {status: 200, responseBytes: 1024})
  }
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) run(i)
  const ns = Number(process.hrtime.bigint() - t0) / N
  console.log(`${name.padEnd(40)} ${ns.toFixed(0).padStart(6)} ns/request`)
  return ns
}

const {registry, observer} = createProxyMetrics()
const results: Record<string, number> = {}
results.noop = bench('no-op observer (loop overhead)', {requestInit: () => {}, responseInit: () => {}, responseEnd: () => {}})
results.metrics = bench('metrics observer', observer)
results.metricsRouted = bench('metrics observer, routed requests', createProxyMetrics().observer, routed)
results.tapIdle = bench('tap, no subscriber', new TapHub())
const hub = new TapHub()
hub.subscribe({bufferedAmount: 0, readyState: 1, send: () => {}}, parseTapFilter(new URLSearchParams('maxRps=10000')))
results.tapOne = bench('tap, one subscriber (sink, maxRps 10000)', hub)
const hub3 = new TapHub()
const sink = {bufferedAmount: 0, readyState: 1, send: () => {}}
const all = hub3.subscribe(sink, parseTapFilter(new URLSearchParams('maxRps=10000')))
all.bucket.take = () => true
results.tapEvery = bench('tap, one subscriber, every request sent', hub3)
const hub2 = new TapHub()
hub2.subscribe({bufferedAmount: 0, readyState: 1, send: () => {}}, parseTapFilter(new URLSearchParams('path=/nomatch')))
results.tapNoMatch = bench('tap, one subscriber, filter not matching', hub2)
const t0 = process.hrtime.bigint()
let bytes = 0
for (let i = 0; i < 200; i++) bytes = registry.metrics().length
const scrapeUs = Number(process.hrtime.bigint() - t0) / 200 / 1000
console.log(`${'scrape (10 authorities)'.padEnd(40)} ${scrapeUs.toFixed(0).padStart(6)} us, ${bytes} bytes`)
console.log(JSON.stringify({...results, scrapeUs, scrapeBytes: bytes}))
