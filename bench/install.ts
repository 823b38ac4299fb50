// `mesh install` costs: rendering the control plane from given identity files (templates ->
// objects -> YAML/JSON), generating a new trust anchor + issuer, and the injector answering
// AdmissionReview POSTs over HTTPS on 127.0.0.1 (sequential, one keep-alive connection).
//   node --import tsx bench/install.ts [reviews=300]
import https from 'node:https'
import {readFileSync} from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import {formatObjects} from '../src/install/format.js'
import {generateIdentity} from '../src/install/identity.js'
import {resolveValues} from '../src/install/inputs.js'
import {renderObjects} from '../src/install/render.js'
import {startInjector} from '../src/control/injector/index.js'
import {loadIssuer} from '../src/control/identity/issuer.js'
import {silentLogger} from '../src/control/logger.js'
import {defaultConfig} from '../src/inject/config.js'

const REVIEWS = Math.min(Number(process.argv[2] ?? 300), 5000)
const fx = (f: string) => readFileSync(new URL(`../test/install/fixtures/identity/${f}`, import.meta.url), 'utf8')
const identity = {trustAnchorsPEM: fx('ca.crt'), issuerCertPEM: fx('issuer.crt'), issuerKeyPEM: fx('issuer.key')}

async function time(n: number, fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6 / n
}

const values = await resolveValues({ha: true})
await renderObjects({values, identity}) // warm-up: template parse, lazy imports
console.log(`render (objects, --ha):      ${(await time(50, () => renderObjects({values, identity}))).toFixed(2)} ms`)
console.log(`render + YAML:               ${(await time(50, async () => formatObjects(await renderObjects({values, identity}), 'yaml'))).toFixed(2)} ms`)
console.log(`render + JSON:               ${(await time(50, async () => formatObjects(await renderObjects({values, identity}), 'json'))).toFixed(2)} ms`)
console.log(`generate anchor + issuer:    ${(await time(5, () => generateIdentity({trustDomain: 'cluster.local', anchorDays: 3650, issuerDays: 365}))).toFixed(1)} ms`)

const state = loadIssuer({anchorsPem: identity.trustAnchorsPEM, issuerCertPem: identity.issuerCertPEM, issuerKeyPem: identity.issuerKeyPEM, source: 'bench'})
const kc = new k8s.KubeConfig()
kc.loadFromOptions({clusters: [{name: 'c', server: 'https://127.0.0.1:1'}], users: [{name: 'u'}], contexts: [{name: 'x', cluster: 'c', user: 'u'}], currentContext: 'x'})
const t0 = process.hrtime.bigint()
const injector = await startInjector({
  issuer: {start: async () => {}, current: () => state, onChange: () => () => {}, stop: async () => {}},
  kc, lib: k8s, log: silentLogger, host: '127.0.0.1', port: 0, extraNames: ['127.0.0.1'],
  deps: {config: async () => defaultConfig({trustAnchorsPEM: identity.trustAnchorsPEM}), namespaceAnnotations: async () => ({'mesh.dev/inject': 'enabled'})},
})
console.log(`injector start (key + cert): ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`)
const agent = new https.Agent({keepAlive: true, maxSockets: 1, ca: identity.trustAnchorsPEM})
const body = JSON.stringify({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {uid: 'u', kind: {group: '', version: 'v1', kind: 'Pod'}, namespace: 'shop', operation: 'CREATE',
  object: {apiVersion: 'v1', kind: 'Pod', metadata: {generateName: 'web-', labels: {app: 'web'}}, spec: {containers: [{name: 'app', image: 'nginx'}]}}}})
const post = () => new Promise<void>((resolve, reject) => {
  const req = https.request({host: '127.0.0.1', port: injector.port, path: '/inject', method: 'POST', agent, headers: {'content-type': 'application/json'}}, (res) => {
    res.resume().on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))))
  })
  req.on('error', reject)
  req.end(body)
})
await post()
const ms = await time(REVIEWS, post)
console.log(`admission review (inject):   ${ms.toFixed(2)} ms/review, ${(1000 / ms).toFixed(0)} reviews/s over ${REVIEWS} sequential POSTs`)
agent.destroy()
await injector.stop()
