// A graceful drain (SIGTERM: shutdown.ts) closes the HTTP/1 connections at rest at once and
// lets work in progress finish until its deadline. A tunnel (an Upgrade after its 101, a
// CONNECT after its 200) has no HTTP response in progress, and the drain used to take it for a
// connection at rest: a WebSocket was cut mid-conversation as soon as the drain began (or 2 s
// after its connection came, if it had carried no plain request). As Linkerd does with
// long-lived connections, a tunnel now lives on through the drain until it ends by itself or
// the drain's deadline closes everything. Real sockets through a proxy pair, both codecs (the
// raw codec hands Upgrade and CONNECT to Node's server), the client's proxy draining (outbound
// listener) and the server's (inbound listener).
import http from 'node:http'
import net from 'node:net'
import {afterAll, beforeAll, describe, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {FRESH_MS} from '../../src/proxy/http/http1/fresh.js'
import {RawClient} from './attacks.js'
import {closeServer, listenOn, startPair, withCodec, type Pair} from './helpers.js'

/** The drain's deadline here: the tunnels must outlive the drain's closing of idle connections (immediate, or FRESH_MS after a connection came). */
const GRACE_MS = FRESH_MS + 4000

const CODECS = ['node', 'raw'] as const
const DRAINING = ['client', 'server'] as const

describe('tunnels through a graceful drain', () => {
  let app: http.Server
  let appPort = 0
  /** The app's ends of the upgrade tunnels, by the tag of their request. */
  const appEnds = new Map<string, net.Socket>()
  const pairs = new Map<string, Pair>()

  beforeAll(async () => {
    app = http.createServer((req, res) => {
      const body = `ok ${req.url}\n`
      req.resume()
      req.on('end', () => {
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': Buffer.byteLength(body)})
        res.end(body)
      })
    })
    // An upgrade the app accepts: a 101, then every byte echoed back as `echo:<bytes>`.
    app.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      appEnds.set(new URL(req.url ?? '/', 'http://x').searchParams.get('tag') ?? '', socket)
      socket.on('error', () => {})
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
      if (head.length > 0) socket.write(`echo:${head.toString('latin1')}`)
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString('latin1')}`))
    })
    appPort = await listenOn(app)
    // One pair per case (a drain ends its proxy), all started here: the codec is read at start.
    for (const codec of CODECS) {
      for (const draining of DRAINING) pairs.set(`${codec}/${draining}`, await withCodec(codec, () => startPair('web.local:80', appPort)))
    }
  })
  afterAll(async () => {
    for (const p of pairs.values()) await p.close()
    for (const s of appEnds.values()) s.destroy()
    await closeServer(app)
  })

  interface Tunnel {
    name: string
    client: RawClient
    /** Sends `text` through the tunnel and resolves when its answer came back the other way. */
    roundTrip(text: string): Promise<void>
    /** The app's end (upgrade tunnels). */
    appEnd?: net.Socket
  }

  /** A connection to `port`, fresh or after a plain request answered on it. */
  async function connection(port: number, tag: string, afterRequest: boolean): Promise<RawClient> {
    const client = new RawClient(port)
    if (afterRequest) {
      client.write(`GET /first?tag=${tag} HTTP/1.1\r\nHost: web.local\r\n\r\n`)
      await client.until(/ok \/first\?tag=[\w-]+\n$/)
    }
    return client
  }

  /** An Upgrade tunnel through the client's proxy, on a fresh connection or after a plain request on the same one. */
  async function upgradeTunnel(port: number, tag: string, afterRequest: boolean): Promise<Tunnel> {
    const client = await connection(port, tag, afterRequest)
    client.write(`GET /ws?tag=${tag} HTTP/1.1\r\nHost: web.local\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`)
    await client.until(/HTTP\/1\.1 101 [^]*\r\n\r\n$/)
    const t: Tunnel = {
      name: `upgrade${afterRequest ? ' after a request' : ''}`, client,
      roundTrip: async (text) => {
        client.write(text)
        const got = await client.until(new RegExp(`echo:${text}$`))
        if (!got.endsWith(`echo:${text}`)) throw new Error(`${t.name}: no echo of ${text} (closed: ${client.socket.destroyed})`)
      },
      appEnd: appEnds.get(tag),
    }
    await t.roundTrip(`hello-${tag}`)
    return t
  }

  /** A CONNECT tunnel through the client's proxy (to the server proxy's inbound port: HTTP requests inside). */
  async function connectTunnel(port: number, tag: string, afterRequest: boolean): Promise<Tunnel> {
    const client = await connection(port, tag, afterRequest)
    client.write('CONNECT web.local:80 HTTP/1.1\r\nHost: web.local:80\r\n\r\n')
    await client.until(/HTTP\/1\.1 200 Connection Established\r\n\r\n$/)
    const t: Tunnel = {
      name: `CONNECT${afterRequest ? ' after a request' : ''}`, client,
      roundTrip: async (text) => {
        client.write(`GET /in-tunnel?${text} HTTP/1.1\r\nHost: web.local\r\n\r\n`)
        const got = await client.until(new RegExp(`ok /in-tunnel\\?${text}\\n$`))
        if (!got.endsWith(`ok /in-tunnel?${text}\n`)) throw new Error(`${t.name}: no answer to ${text} (closed: ${client.socket.destroyed})`)
      },
    }
    await t.roundTrip(`hello-${tag}`)
    return t
  }

  const cases = CODECS.flatMap((codec) => DRAINING.map((draining) => [codec, draining] as const))
  it.concurrent.for(cases)('%s codec, the %s proxy draining: tunnels carry bytes both ways while a resting connection is closed, and close at the deadline', {timeout: 60_000}, async ([codec, draining], {expect}) => {
    const pair = pairs.get(`${codec}/${draining}`)!
    const port = pair.client.ports.outbound
    const tag = `${codec}-${draining}`
    // The listener the drain acts on: the client's proxy's outbound one, or the server's inbound one.
    const drainingProxy = draining === 'client' ? pair.client : pair.server
    const restPort = draining === 'client' ? port : pair.server.ports.inbound
    const tunnels = [
      await upgradeTunnel(port, `${tag}-u1`, true),
      await upgradeTunnel(port, `${tag}-u2`, false),
      // (CONNECT is served on the outbound side only)
      ...draining === 'client' ? [await connectTunnel(port, `${tag}-c1`, true), await connectTunnel(port, `${tag}-c2`, false)] : [],
    ]
    const opened = performance.now()
    // A keep-alive connection that has carried one request and now rests.
    const resting = await connection(restPort, `${tag}-rest`, true)

    const start = performance.now()
    const drained = drainingProxy.close(GRACE_MS)
    // The resting connection is closed by the drain (its client sent nothing more).
    await resting.end()
    for (const t of tunnels) await t.roundTrip(`during-${t.name.replace(/\W/g, '')}-1`)
    // Past the age at which the drain closes a connection that has carried no plain request
    // (the fresh tunnels, and every tunnel the raw codec handed over): still carried.
    await eventually('the tunnels to be older than the drain spares a fresh connection', () => performance.now() - opened > FRESH_MS + 500 ? true : undefined, {intervalMs: 100})
    for (const t of tunnels) await t.roundTrip(`during-${t.name.replace(/\W/g, '')}-2`)
    for (const t of tunnels) expect(t.client.socket.destroyed, t.name).toBe(false)

    // The deadline closes them, both ends (never before it: timers do not fire early).
    const closedAt = await Promise.all(tunnels.map(async (t) => { await t.client.end(); return performance.now() - start }))
    for (const ms of closedAt) expect(ms).toBeGreaterThanOrEqual(GRACE_MS - 20)
    const {forced} = await drained
    expect(forced).toBeGreaterThanOrEqual(tunnels.length)
    for (const t of tunnels.filter((x) => x.appEnd)) {
      await eventually(`the app's end of ${t.name} to close`, () => t.appEnd!.destroyed || t.appEnd!.readableEnded ? true : undefined)
    }
  })
})
