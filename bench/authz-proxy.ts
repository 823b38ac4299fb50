// The cost per request of the proxy's authorization check with N AuthorizationPolicies on a
// workload, against the same proxy without a control-plane policy, in one process. A local-mode
// controller compiles N policies (each allowing three ServiceAccounts, a namespace and a CIDR on
// the port, for GET/HEAD on two paths: bench/authz-decide.ts's shape) and streams them to proxy
// A; proxy B has no destination service (MESH_PROXY_INBOUND_POLICY all-unauthenticated: no
// check per request). Both proxies hold a certificate from that controller and forward to the
// same app. A client with the identity the last policy names (the worst case: every covering
// rule is asked) sends GET requests over keep-alive mTLS connections, in rounds that alternate
// A and B; each round's CPU time (process.cpuUsage: client, proxy and app together, all in this
// process) per request. Reported: the medians, their difference (what the check adds to a
// request: the decision, the request facts, the counters) and the ratio A/B.
//   npx tsx bench/authz-proxy.ts [policies=100] [requests per round=2000] [rounds=7]
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {stringify} from 'yaml'
import {startController} from '../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir, issueLocalToken} from '../src/control/identity/index.js'
import {createLogger} from '../src/control/logger.js'
import {AuthzMatcher} from '../src/authz/evaluate.js'
import {createProxyMetrics} from '../src/metrics/proxy-metrics.js'
import {identityName} from '../src/protocol/proxy-env.js'
import {loadProxyConfig} from '../src/proxy/config/config.js'
import {Logger} from '../src/proxy/core/log.js'
import {DestinationClient} from '../src/proxy/discovery/destination-client.js'
import {startIdentity} from '../src/proxy/identity/index.js'
import {startProxy, type RunningProxy} from '../src/proxy/server.js'
import {certifyClient} from '../test/helpers/authz-client.js'
import {startEchoApp} from '../test/proxy/helpers.js'

const n = Number(process.argv[2] ?? 100)
const perRound = Number(process.argv[3] ?? 2000)
const rounds = Number(process.argv[4] ?? 7)
const CONCURRENCY = 8
const NS = 'shop'

const dir = mkdtempSync(path.join(tmpdir(), 'mesh-bench-authz-'))
const registryFile = path.join(dir, 'registry.yaml')
writeFileSync(registryFile, 'services: []\n')
const controller = await startController({
  mode: 'local', identityDir: path.join(dir, 'identity'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0, defaultInboundPolicy: 'deny',
  log: createLogger({level: 'error', write: () => {}}),
})
const local = await ensureLocalIdentityDir(path.join(dir, 'identity'))
const idService = controller.ctx.identity!
const tokenFile = path.join(dir, 'books.token')
writeFileSync(tokenFile, issueLocalToken('books', NS, local.tokenSecret))
const identity = await startIdentity({localName: identityName('books', NS), identityAddr: `https://127.0.0.1:${idService.port}`, identityServiceName: idService.serviceName, tokenFile, trustAnchorsPem: local.anchorsPem})
await identity.ready()
const app = await startEchoApp()

const logs: string[] = []
async function proxy(withPolicy: boolean): Promise<RunningProxy> {
  const cfg = loadProxyConfig({}, {inbound: '127.0.0.1:0', outbound: '127.0.0.1:0', admin: '127.0.0.1:0', tap: '127.0.0.1:0'})
  cfg.inboundForward = {host: '127.0.0.1', port: app.port}
  cfg.podLabels = {namespace: NS, pod: 'books-0'}
  const discovery = withPolicy ? new DestinationClient({addr: `wss://127.0.0.1:${controller.ctx.destination!.port}`, namespace: NS, identity, trustAnchorsPem: local.anchorsPem, serverName: controllerIdentityName()}) : undefined
  return startProxy(cfg, {identity, discovery, originalDst: null, observers: [createProxyMetrics({localLabels: cfg.podLabels}).observer], log: new Logger('info', 'plain', (l) => void logs.push(l))})
}
const a = await proxy(true)
const b = await proxy(false)
const port = a.ports.inbound
const policies = Array.from({length: n}, (_, i) => ({
  apiVersion: 'policy.mesh.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: {name: `p${String(i).padStart(4, '0')}`, namespace: NS},
  spec: {
    target: {workload: {name: 'books'}},
    from: [{serviceAccounts: [{name: `client-${i}-a`}, {name: `client-${i}-b`}, {name: `client-${i}-c`}]}, {namespaces: [`team-${i}`]}, {networks: [{cidr: `10.${i % 256}.0.0/16`}]}],
    to: [{ports: [port], methods: ['GET', 'HEAD'], paths: [{type: 'PathPrefix', value: `/api/v${i}`}, {type: 'Exact', value: '/health'}]}],
  },
}))
writeFileSync(registryFile, stringify({
  services: [{name: 'books', namespace: NS, ports: [{port: 80, endpoints: [{address: '127.0.0.1', port, pod: 'books-0', serviceAccount: 'books', deployment: 'books'}]}]}],
  authorizationPolicies: policies,
}))
const deadline = Date.now() + 60_000
while (!logs.some((l) => l.includes(`rules=${n} `))) {
  if (Date.now() > deadline) throw new Error(`proxy A never held the ${n} policies: ${logs.slice(-3).join('')}`)
  await new Promise((r) => setTimeout(r, 50))
}

const last = n - 1
const cert = (sa: string) => certifyClient({identityUrl: `https://127.0.0.1:${idService.port}`, anchorsPem: local.anchorsPem, serviceName: idService.serviceName, serviceAccount: sa, namespace: NS, token: issueLocalToken(sa, NS, local.tokenSecret)})
const client = await cert(`client-${last}-c`)
const stranger = await cert('stranger')

function agent(c: typeof client): https.Agent {
  return new https.Agent({keepAlive: true, maxSockets: CONCURRENCY, ca: local.anchorsPem, key: c.keyPem, cert: c.certPem, servername: identityName('books', NS)})
}
const agents = {a: agent(client), b: agent(client)}

function get(p: RunningProxy, ag: https.Agent, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: p.ports.inbound, path: target, agent: ag, headers: {host: 'books.shop.svc.cluster.local'}}, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

/** CPU µs per request over `count` requests (CONCURRENCY at a time), every answer checked. */
async function round(p: RunningProxy, ag: https.Agent, count: number): Promise<number> {
  let left = count
  const cpu = process.cpuUsage()
  await Promise.all(Array.from({length: CONCURRENCY}, async () => {
    while (left-- > 0) {
      const s = await get(p, ag, `/api/v${last}/books?id=1`)
      if (s !== 200) throw new Error(`status ${s}`)
    }
  }))
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / count
}

const denied = await get(a, agent(stranger), `/api/v${last}/books`)
if (denied !== 403) throw new Error(`the stranger got ${denied} from proxy A: the policy is not in force`)
await round(a, agents.a, perRound)
await round(b, agents.b, perRound)
const results: {a: number[]; b: number[]} = {a: [], b: []}
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)
  for (const k of order) results[k].push(await round(k === 'a' ? a : b, agents[k], perRound))
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
const ma = median(results.a)
const mb = median(results.b)
console.log(`${n} AuthorizationPolicies, ${rounds} rounds of ${perRound} GETs each way (keep-alive mTLS, ${CONCURRENCY} connections), CPU per request of this process (client + proxy + app):`)
console.log(`  with the policy (allowed by the last):  ${ma.toFixed(1)} µs  (rounds: ${results.a.map((x) => x.toFixed(0)).join(', ')})`)
console.log(`  without a control-plane policy:         ${mb.toFixed(1)} µs  (rounds: ${results.b.map((x) => x.toFixed(0)).join(', ')})`)
console.log(`  the check adds ${(ma - mb).toFixed(1)} µs per request: ratio ${(ma / mb).toFixed(3)}`)
// The decision alone, on the policy proxy A holds, with the same client and request.
const held = controller.ctx.authz!.get(NS, 'books-0')
if (held.kind === 'policy') {
  const m = new AuthzMatcher(held.policy)
  const facts = {method: 'GET', target: `/api/v${last}/books?id=1`, header: () => undefined, grpc: false}
  const who = {identity: client.identity, ip: '127.0.0.1'}
  for (let i = 0; i < 20_000; i++) m.decide(port, who, facts)
  const t = process.hrtime.bigint()
  for (let i = 0; i < 200_000; i++) m.decide(port, who, facts)
  console.log(`  the decision alone (AuthzMatcher.decide, same policy and request): ${(Number(process.hrtime.bigint() - t) / 200_000 / 1000).toFixed(2)} µs`)
}

for (const ag of Object.values(agents)) ag.destroy()
await Promise.all([a.close(0), b.close(0)])
identity.close()
await controller.stop()
app.server.close()
rmSync(dir, {recursive: true, force: true})
process.exit(0)
