// The cost of an authorization decision as the proxy half will make it: the reference matcher
// (src/authz/evaluate.ts, AuthzMatcher) over one pod's policy compiled by the controller's own
// code (src/authz/compile.ts) from N AuthorizationPolicies targeting the workload, each allowing
// a few ServiceAccounts, a namespace and a CIDR on some ports, methods and paths. Measures, per
// decision: the request allowed by the last policy in name order (the worst case: every
// covering rule is asked), a request denied by all of them, an opaque TCP connection, and a
// kubelet probe; plus the time to build the matcher (once per policy message) and the policy's
// size on the wire.
//   npx tsx bench/authz-decide.ts [policies=100] [decisions=200000]
import type * as k8s from '@kubernetes/client-node'
import {compileAuthz} from '../src/authz/compile.js'
import {AuthzMatcher, type ClientFacts, type RequestFacts} from '../src/authz/evaluate.js'
import {podFacts} from '../src/authz/pod.js'
import {validatePolicy} from '../src/authz/validate.js'
import {identityName} from '../src/protocol/proxy-env.js'

const n = Number(process.argv[2] ?? 100)
const decisions = Number(process.argv[3] ?? 200_000)

const pod: k8s.V1Pod = {
  metadata: {name: 'books-0', namespace: 'shop', labels: {app: 'books', 'pod-template-hash': '7d9f'}, ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'books-7d9f', uid: 'u', controller: true}]},
  spec: {
    serviceAccountName: 'books',
    initContainers: [{name: 'mesh-proxy', image: 'mesh', restartPolicy: 'Always'}],
    containers: [{name: 'app', image: 'books', ports: [{name: 'http', containerPort: 8080}], readinessProbe: {httpGet: {path: '/ready', port: 'http'}}}],
  },
}
const policies = Array.from({length: n}, (_, i) => validatePolicy({
  metadata: {name: `p${String(i).padStart(4, '0')}`, namespace: 'shop', generation: 1},
  spec: {
    target: {workload: {name: 'books'}},
    from: [{serviceAccounts: [{name: `client-${i}-a`}, {name: `client-${i}-b`}, {name: `client-${i}-c`}]}, {namespaces: [`team-${i}`]}, {networks: [{cidr: `10.${i % 256}.0.0/16`}]}],
    to: [{ports: [8080], methods: ['GET', 'HEAD'], paths: [{type: 'PathPrefix', value: `/api/v${i}`}, {type: 'Exact', value: '/health'}]}, {ports: [9090]}],
  },
})!)
const facts = podFacts(pod, 'mesh-system', 'cluster.local')
const policy = compileAuthz({pod: facts, policies, services: [], clusterDefault: 'deny', clusterNetworks: ['10.0.0.0/8']})
const bytes = Buffer.byteLength(JSON.stringify(policy))

const t0 = process.hrtime.bigint()
const builds = 200
for (let i = 0; i < builds; i++) new AuthzMatcher(policy)
const buildUs = Number(process.hrtime.bigint() - t0) / 1000 / builds
const m = new AuthzMatcher(policy)

const req = (method: string, target: string): RequestFacts => ({method, target, header: () => undefined, grpc: false})
const last = n - 1
const cases: Array<[string, number, ClientFacts, RequestFacts | undefined, boolean]> = [
  [`allowed by the last of ${n} policies`, 8080, {identity: identityName(`client-${last}-c`, 'shop'), ip: '192.0.2.1'}, req('GET', `/api/v${last}/books?id=1`), true],
  ['denied by all (unknown identity)', 8080, {identity: identityName('stranger', 'shop'), ip: '192.0.2.1'}, req('GET', '/api/v1/books'), false],
  ['opaque TCP connection, allowed', 9090, {identity: identityName(`client-${last}-a`, 'shop'), ip: '192.0.2.1'}, undefined, true],
  ['kubelet probe (plaintext)', 8080, {ip: '10.0.0.1'}, req('GET', '/ready'), true],
]
console.log(`policy: ${n} AuthorizationPolicies -> ${policy.rules.length} rules, ${bytes} bytes as JSON; building the matcher: ${buildUs.toFixed(0)} µs`)
for (const [what, port, client, r, expect] of cases) {
  if (m.decide(port, client, r).allow !== expect) throw new Error(`${what}: unexpected decision`)
  for (let i = 0; i < 10_000; i++) m.decide(port, client, r)
  const s = process.hrtime.bigint()
  for (let i = 0; i < decisions; i++) m.decide(port, client, r)
  const ns = Number(process.hrtime.bigint() - s) / decisions
  console.log(`${what.padEnd(40)} ${(ns / 1000).toFixed(2)} µs per decision`)
}
