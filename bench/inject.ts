// Benchmark: a 5,000-document YAML stream (deployments with comments, services, config maps)
// through the whole inject transform (parse, inject, sync into the comment-keeping documents,
// print), then through uninject. Prints documents per second and peak memory.
// Run: npx tsx bench/inject.ts [documents]
import {performance} from 'node:perf_hooks'
import {defaultConfig} from '../src/inject/config.js'
import {transformSources, type StreamOptions} from '../src/inject/transform.js'

const DOCS = Number(process.argv[2] ?? 5000)

function doc(i: number): string {
  switch (i % 3) {
    case 0:
      return `# deployment ${i}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${i} # the name
  namespace: ns-${i % 20}
spec:
  replicas: 2
  selector:
    matchLabels: {app: app-${i}}
  template:
    metadata:
      labels:
        app: app-${i}
    spec:
      containers:
      - name: app
        image: "app:${i}" # pinned
        ports:
        - containerPort: 8080
        env:
        - {name: MODE, value: fast}
`
    case 1:
      return `apiVersion: v1
kind: Service
metadata:
  name: app-${i}
spec:
  ports: [{port: 80, targetPort: 8080}]
`
    default:
      return `apiVersion: v1
kind: ConfigMap
metadata:
  name: conf-${i}
data:
  key: "value ${i}"
`
  }
}

const text = Array.from({length: DOCS}, (_, i) => doc(i)).join('---\n')
const base: StreamOptions = {
  mode: 'inject',
  config: defaultConfig({trustAnchorsPEM: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'}),
  createdBy: 'mesh/bench',
  native: true,
  annotateOnly: false,
  ingress: false,
  flagAnnotations: {},
}

let peak = process.memoryUsage().rss
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)

function run(label: string, input: string, opts: StreamOptions): string {
  const t0 = performance.now()
  const r = transformSources([{name: 'bench.yaml', text: input}], opts)
  const ms = performance.now() - t0
  peak = Math.max(peak, process.memoryUsage().rss)
  const injected = r.reports.filter((x) => x.status === 'injected' || x.status === 'uninjected').length
  console.log(`${label.padEnd(9)} ${DOCS} documents (${injected} workloads) in ${ms.toFixed(0)} ms: ${(DOCS / (ms / 1000)).toFixed(0)} documents/s, ${(input.length / 1024 / 1024).toFixed(1)} MiB in, ${(r.output.length / 1024 / 1024).toFixed(1)} MiB out`)
  return r.output
}

const startRss = process.memoryUsage().rss
run('warm-up', Array.from({length: 50}, (_, i) => doc(i)).join('---\n'), base)
const injected = run('inject', text, base)
run('reinject', injected, base)
run('uninject', injected, {...base, mode: 'uninject'})
clearInterval(sampler)
console.log(`peak RSS ${(peak / 1024 / 1024).toFixed(0)} MiB (start ${(startRss / 1024 / 1024).toFixed(0)} MiB), node ${process.version}`)
