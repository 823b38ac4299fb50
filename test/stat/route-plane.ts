// A real local-mode controller (destination with routes from its registry file, tap server over
// the file's `pods:`) and a real client sidecar (runSidecar: data path, admin /metrics, tap)
// fed by it, in front of plain apps on 127.0.0.1, and the local context the CLI reads: what
// `mesh stat --routes` and `mesh top --routes` are tested on. Every app answers JSON naming
// itself; /fail answers 500, /slow answers after 150 ms.
import {mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {stringify} from 'yaml'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import {parseRoutes} from '../../src/proxy/config/route-policy.js'
import {runSidecar, type Sidecar} from '../../src/proxy/run.js'
import {writeLocalContext} from '../../src/tapclient/local-context.js'
import {closeServer, listenOn, quietLog, testConfig} from '../proxy/helpers.js'

export const NS = 'shop'
export const PORT = 8080

export interface RoutePlane {
  controller: RunningController
  client: Sidecar
  apps: Record<string, number>
  /** MESH_HOME with the local context naming the controller's tap server. */
  env: Record<string, string>
  /** One request through the client's outbound proxy; the app that answered (or `-`) and the status. */
  send(service: string, p: string, headers?: Record<string, string>): Promise<{status: number; app: string}>
  /** Rewrites the registry file with these routes (the controller reloads it). */
  setRoutes(routes: unknown[]): void
  log: string[]
  close(): Promise<void>
}

export const svcPort = (name: string): {group: string; kind: string; name: string; port: number} => ({group: '', kind: 'Service', name, port: PORT})
export const backend = (name: string, weight?: number): Record<string, unknown> => (weight === undefined ? {name, port: PORT} : {name, port: PORT, weight})

/** HTTPRoute books-api on books: /split 50/50 to books and books-v2, /fail to books. */
export const booksApi = {
  kind: 'HTTPRoute',
  metadata: {name: 'books-api', namespace: NS},
  spec: {
    parentRefs: [svcPort('books')],
    rules: [
      {matches: [{path: {type: 'PathPrefix', value: '/split'}}], backendRefs: [backend('books', 50), backend('books-v2', 50)]},
      {matches: [{path: {type: 'PathPrefix', value: '/fail'}}], backendRefs: [backend('books')]},
    ],
  },
}

export async function startRoutePlane(services: string[], routes: unknown[], opts: {proxyRoutes?: string} = {}): Promise<RoutePlane> {
  const servers: http.Server[] = []
  const apps: Record<string, number> = {}
  for (const name of services) {
    const server = http.createServer((req, res) => {
      req.resume()
      const answer = (status: number): void => {
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify({app: name}))
      }
      if (req.url?.startsWith('/fail')) return answer(500)
      if (req.url?.startsWith('/slow')) return void setTimeout(() => answer(200), 150)
      answer(200)
    })
    servers.push(server)
    apps[name] = await listenOn(server)
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-route-plane-'))
  const registryFile = path.join(tmp, 'registry.yaml')
  let pods: unknown[] = []
  let current = routes
  const write = (): void => {
    const doc = {
      services: services.map((name) => ({name, namespace: NS, ports: [{port: PORT, endpoints: [{address: '127.0.0.1', port: apps[name], pod: `${name}-0`, deployment: name}]}]})),
      routes: current,
      pods,
    }
    writeFileSync(registryFile + '.tmp', stringify(doc))
    renameSync(registryFile + '.tmp', registryFile)
  }
  write()
  const log: string[] = []
  const token = 'route-plane-' + Math.random().toString(36).slice(2)
  const controller = await startController({
    mode: 'local', identityDir: path.join(tmp, 'ca'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0, tapToken: token,
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  const anchors = readFileSync(path.join(tmp, 'ca', 'ca.crt'), 'utf8')
  const cfg = testConfig()
  cfg.retry.limit = 0
  if (opts.proxyRoutes) cfg.routes = parseRoutes(opts.proxyRoutes, 'MESH_PROXY_ROUTES')
  const client = await runSidecar(cfg, {
    MESH_PROXY_DESTINATION_ADDR: `wss://127.0.0.1:${controller.ctx.destination!.port}`, MESH_PROXY_DESTINATION_IDENTITY: controllerIdentityName(),
    MESH_PROXY_IDENTITY_TRUST_ANCHORS_PEM: anchors, MESH_PROXY_POD_NAMESPACE: NS, MESH_PROXY_POD_NAME: 'web-0',
    MESH_PROXY_WORKLOAD_KIND: 'deployment', MESH_PROXY_WORKLOAD_NAME: 'web',
  }, quietLog())
  // The tap server finds the pods in the same file: the client (meshed) and the apps (not).
  pods = [
    {name: 'web-0', namespace: NS, deployment: 'web', admin: `127.0.0.1:${client.ports.admin}`, tap: `127.0.0.1:${client.ports.tap}`},
    ...services.map((name) => ({name: `${name}-0`, namespace: NS, deployment: name, meshed: false})),
  ]
  write()
  const home = mkdtempSync(path.join(os.tmpdir(), 'mesh-home-'))
  const env = {MESH_HOME: home}
  writeLocalContext({version: 1, pid: process.pid, tap: controller.ctx.tap!.server!.url, token, namespace: NS}, env)
  const agent = new http.Agent({keepAlive: true, maxSockets: 4})
  const send = (service: string, p: string, headers: Record<string, string> = {}): Promise<{status: number; app: string}> =>
    new Promise((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: client.ports.outbound, path: p, agent, headers: {host: `${service}.${NS}.svc.cluster.local:${PORT}`, ...headers}, timeout: 20_000}, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
          let app = '-'
          try {
            app = (JSON.parse(body) as {app?: string}).app ?? '-'
          } catch {
            // an answer of the proxy itself (404 no route matches, 504)
          }
          resolve({status: res.statusCode ?? 0, app})
        })
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
      req.end()
    })
  return {
    controller, client, apps, env, send, log,
    setRoutes: (r) => {
      current = r
      write()
    },
    close: async () => {
      agent.destroy()
      await client.stop(200)
      await controller.stop()
      for (const s of servers) await closeServer(s)
      rmSync(tmp, {recursive: true, force: true})
      rmSync(home, {recursive: true, force: true})
    },
  }
}
