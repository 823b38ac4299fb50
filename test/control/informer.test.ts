// startInformer against a scripted API server on 127.0.0.1 (a stand-in for the API server
// inside this one module's test; the real one is exercised in test/integration): lists that
// fail are retried with backoff, a 410 Gone on the watch makes it relist, events flow.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import * as k8s from '@kubernetes/client-node'
import {startInformer} from '../../src/control/informer.js'
import {createLogger} from '../../src/control/logger.js'

let server: http.Server
let port: number
const calls: string[] = []
let lists = 0
let watches = 0
const openWatches = new Set<http.ServerResponse>()

const cm = (name: string, rv: string) => ({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name, namespace: 'x', resourceVersion: rv, uid: name}})

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    calls.push(`${url.pathname}?${url.searchParams.toString()}`)
    if (url.pathname !== '/api/v1/namespaces/x/configmaps') {
      res.writeHead(404).end()
      return
    }
    if (url.searchParams.get('watch') !== 'true') {
      lists++
      if (lists <= 2) {
        res.writeHead(500, {'content-type': 'application/json'}).end(JSON.stringify({kind: 'Status', code: 500, message: 'etcd is sad'}))
        return
      }
      const items = lists === 3 ? [cm('a', '5')] : [cm('a', '5'), cm('b', '11'), cm('c', '20')]
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({kind: 'ConfigMapList', apiVersion: 'v1', metadata: {resourceVersion: lists === 3 ? '10' : '20'}, items}))
      return
    }
    watches++
    res.writeHead(200, {'content-type': 'application/json'})
    if (watches === 1) {
      res.write(JSON.stringify({type: 'ADDED', object: cm('b', '11')}) + '\n')
      res.end(JSON.stringify({type: 'ERROR', object: {kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version'}}) + '\n')
      return
    }
    openWatches.add(res)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  for (const r of openWatches) r.end()
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

describe('startInformer', () => {
  it('retries failed lists with backoff, relists after 410 Gone, and reports every object', async () => {
    const kc = new k8s.KubeConfig()
    kc.loadFromOptions({
      clusters: [{name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true}],
      users: [{name: 'u'}],
      contexts: [{name: 'x', cluster: 'c', user: 'u'}],
      currentContext: 'x',
    })
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const logs: string[] = []
    const seen: string[] = []
    const inf = startInformer<k8s.V1ConfigMap>({
      lib: k8s,
      kc,
      path: '/api/v1/namespaces/x/configmaps',
      list: () => core.listNamespacedConfigMap({namespace: 'x'}),
      onEvent: (o, verb) => seen.push(`${verb}:${o.metadata!.name}`),
      log: createLogger({level: 'warn', write: (l) => logs.push(l)}),
      name: 'cms',
      backoff: {minMs: 20, maxMs: 100},
    })
    try {
      await inf.synced
      expect(lists).toBeGreaterThanOrEqual(3)
      expect(logs.filter((l) => l.includes('watch failed; restarting')).length).toBe(2)
      expect(logs[0]).toContain('informer=cms')
      await eventually('the relist after 410 and the resumed watch', () => (lists >= 4 && watches >= 2 && seen.includes('add:c') ? true : undefined), {intervalMs: 20})
      expect(lists).toBe(4) // the relist after 410
      expect(seen).toEqual(expect.arrayContaining(['add:a', 'add:b', 'add:c']))
      expect(inf.list('x').map((o) => o.metadata!.name).sort()).toEqual(['a', 'b', 'c'])
      // The watch resumed from the relist's resourceVersion.
      expect(calls.filter((c) => c.includes('watch=true')).at(-1)).toContain('resourceVersion=20')
    } finally {
      await inf.stop()
    }
  })
})
