// `mesh demo app <name>`: runs one demo service (or the load generator) until SIGINT/SIGTERM.
// The orchestrator starts each as a child process next to its own `mesh proxy`.
import type {AddressInfo} from 'node:net'
import {DEMO_NAMESPACE, serviceAuthority, type DemoService} from './catalog.js'
import {startLoad} from './load.js'
import {Outbound} from './outbound.js'
import {authorsApp, booksApp, stockApp, webApp, type AppContext, type Server} from './services.js'

export const DEMO_APPS = ['web', 'books', 'authors', 'stock', 'load'] as const
export type DemoAppName = (typeof DEMO_APPS)[number]

export interface AppOptions {
  /** The port the service listens on (127.0.0.1); 0 picks one. Not used by load. */
  port: number
  /** host:port of the service's proxy outbound listener (load: of web's proxy inbound). */
  via: {host: string; port: number}
  namespace?: string
  failEvery?: number
  slowMs?: number
  rps?: number
  durationMs?: number
  maxRequests?: number
  log?: (line: string) => void
}

export interface RunningApp {
  name: DemoAppName
  port?: number
  stop(): Promise<void>
  /** load only: resolves when the run ends (duration or count reached). */
  done?: Promise<unknown>
}

const FACTORIES: Record<DemoService, (ctx: AppContext) => Server> = {web: webApp, books: booksApp, authors: authorsApp, stock: stockApp}

export async function startApp(name: DemoAppName, o: AppOptions): Promise<RunningApp> {
  const namespace = o.namespace ?? DEMO_NAMESPACE
  if (name === 'load') {
    const run = startLoad({target: o.via, authority: serviceAuthority('web', namespace), rps: o.rps ?? 10, durationMs: o.durationMs ?? 3_600_000, maxRequests: o.maxRequests ?? 100_000, log: o.log})
    return {name, done: run.done, stop: async () => run.stop()}
  }
  const outbound = new Outbound(o.via.host, o.via.port)
  const server = FACTORIES[name]({namespace, outbound, failEvery: o.failEvery ?? 10, slowMs: o.slowMs ?? 200})
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  o.log?.(`${name} listening on 127.0.0.1:${port}, calling out through ${o.via.host}:${o.via.port}`)
  return {
    name,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        outbound.close()
        ;(server as {closeAllConnections?: () => void}).closeAllConnections?.()
        server.close(() => resolve())
        setTimeout(resolve, 2000).unref()
      }),
  }
}
