// Opaque TCP through the proxy: byte for byte, half-close both ways, server-first protocols
// (closed after the detect timeout, carried on opaque ports), opaque ports, the original
// destination on the outbound side, and the connection cap.
import net from 'node:net'
import crypto from 'node:crypto'
import {afterEach, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {closeServer, listenOn, quietLog, rawExchange, testConfig} from './helpers.js'

/** Reads everything until the client half-closes, then answers with its length and hash and ends. */
async function startHashServer(): Promise<{server: net.Server, port: number}> {
  const server = net.createServer({allowHalfOpen: true}, (sock) => {
    const h = crypto.createHash('sha256')
    let n = 0
    sock.on('data', (c: Buffer) => { n += c.length; h.update(c) })
    sock.on('end', () => sock.end(`len=${n} sha=${h.digest('hex')}`))
  })
  return {server, port: await listenOn(server)}
}

describe('opaque TCP', () => {
  let proxy: RunningProxy | undefined
  let server: net.Server | undefined
  afterEach(async () => {
    await proxy?.close(100)
    await closeServer(server)
    proxy = undefined
  })

  it('carries binary data byte for byte and passes on the client half-close (inbound)', async () => {
    const s = await startHashServer()
    server = s.server
    proxy = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: s.port}}), {log: quietLog(), originalDst: null})
    const data = crypto.randomBytes(1_000_000)
    data[0] = 0x00 // not HTTP, not TLS
    const reply = await rawExchange(proxy.ports.inbound, data, 5000, true)
    expect(reply).toBe(`len=${data.length} sha=${crypto.createHash('sha256').update(data).digest('hex')}`)
  })

  it('closes a connection that sends nothing on a port that is not opaque (detect timeout), counted; the app never sees it', async () => {
    let accepted = 0
    server = net.createServer((sock) => {
      accepted++
      sock.write('220 ready\r\n')
    })
    const port = await listenOn(server)
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port}})
    cfg.limits.detectTimeoutMs = 150
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    expect(await rawExchange(proxy.ports.inbound, '', 5000)).toBe('')
    expect(proxy.stats.refused.detect_timeout).toBe(1)
    expect(accepted).toBe(0)
  })

  it('carries a server-first protocol on an opaque port, after the inbound side looked for TLS', async () => {
    server = net.createServer((sock) => {
      sock.write('220 ready\r\n')
      sock.on('data', (c: Buffer) => sock.end(`got ${c.toString().trim()}\r\n`))
    })
    const port = await listenOn(server)
    // Not redirected: the original destination is the listener's own address, port taken below.
    const probe = net.createServer()
    const inPort = await listenOn(probe)
    await closeServer(probe)
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port}, inbound: {host: '127.0.0.1', port: inPort}, opaquePorts: new Set([inPort])})
    cfg.limits.detectTimeoutMs = 150
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    const sock = net.connect(proxy.ports.inbound, '127.0.0.1')
    const greeting = await new Promise<string>((resolve) => sock.once('data', (c: Buffer) => resolve(c.toString())))
    expect(greeting).toBe('220 ready\r\n')
    sock.write('HELO x\r\n')
    const bye = await new Promise<string>((resolve) => sock.once('data', (c: Buffer) => resolve(c.toString())))
    expect(bye).toBe('got HELO x\r\n')
    sock.destroy()
    expect(proxy.stats.refused.detect_timeout).toBe(0)
  })

  it('skips detection on opaque ports: an HTTP-looking stream is passed through untouched', async () => {
    const s = await startHashServer()
    server = s.server
    // Not redirected: the original destination is the listener's own address, port taken below.
    const probe = net.createServer()
    const inPort = await listenOn(probe)
    await closeServer(probe)
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port: s.port}, inbound: {host: '127.0.0.1', port: inPort}, opaquePorts: new Set([inPort])})
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    const req = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
    const reply = await rawExchange(proxy.ports.inbound, req, 3000, true)
    expect(reply).toBe(`len=${req.length} sha=${crypto.createHash('sha256').update(req).digest('hex')}`)
  })

  it('routes outbound opaque traffic to the original destination', async () => {
    const s = await startHashServer()
    server = s.server
    proxy = await startProxy(testConfig(), {log: quietLog(), originalDst: () => ({ip: '127.0.0.1', port: s.port})})
    const data = Buffer.from('\x00binary payload\xff')
    const reply = await rawExchange(proxy.ports.outbound, data, 3000, true)
    expect(reply).toBe(`len=${data.length} sha=${crypto.createHash('sha256').update(data).digest('hex')}`)
  })

  it('passes on the server half-close while the client keeps sending', async () => {
    server = net.createServer({allowHalfOpen: true}, (sock) => {
      sock.end('bye-from-server')
      let got = ''
      sock.on('data', (c: Buffer) => (got += c))
      sock.on('end', () => { sock.destroy(); received = got })
    })
    let received = ''
    const port = await listenOn(server)
    proxy = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port}}), {log: quietLog(), originalDst: null})
    const sock = net.connect({port: proxy.ports.inbound, host: '127.0.0.1', allowHalfOpen: true})
    sock.write('\x01hello')
    let fromServer = ''
    sock.on('data', (c: Buffer) => (fromServer += c))
    await new Promise((r) => sock.once('end', r))
    expect(fromServer).toBe('bye-from-server')
    sock.end('-after-server-fin')
    await new Promise((r) => sock.once('close', r))
    await eventually('the server to receive what was sent after its FIN', () => (received === '\x01hello-after-server-fin' ? true : undefined), {intervalMs: 20})
  })

  it('caps connections: a new one refused once every connection is past detection', async () => {
    let carried = 0
    server = net.createServer((sock) => sock.on('data', () => void carried++))
    const port = await listenOn(server)
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port}})
    cfg.limits.maxConnections = 2
    cfg.limits.detectTimeoutMs = 5000
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    // Two opaque connections (binary first bytes: carried as TCP at once).
    const socks = [0, 1].map(() => net.connect(proxy!.ports.inbound, '127.0.0.1', function (this: net.Socket) { this.write('\x00opaque') }))
    await eventually('both connections carried to the app', () => (carried === 2 ? true : undefined), 10_000)
    const third = net.connect(proxy.ports.inbound, '127.0.0.1')
    await new Promise<void>((resolve) => third.on('close', () => resolve()))
    expect(proxy.stats.rejectedConnections).toBe(1)
    expect(proxy.stats.refused.connection_limit).toBe(1)
    for (const s of socks) s.destroy()
  })

  it('at the cap, closes the oldest connection still in detection to let a new one in', async () => {
    let carried = 0
    server = net.createServer((sock) => sock.on('data', () => void carried++))
    const port = await listenOn(server)
    const cfg = testConfig({inboundForward: {host: '127.0.0.1', port}})
    cfg.limits.maxConnections = 2
    cfg.limits.detectTimeoutMs = 10_000
    proxy = await startProxy(cfg, {log: quietLog(), originalDst: null})
    // Accepted in the order they connect (the kernel's accept queue).
    const idle = net.connect(proxy.ports.inbound, '127.0.0.1')
    const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()))
    await new Promise((r) => idle.once('connect', r))
    const second = net.connect(proxy.ports.inbound, '127.0.0.1')
    await new Promise((r) => second.once('connect', r))
    // The third closes the first (the oldest still in detection), not itself.
    const third = net.connect(proxy.ports.inbound, '127.0.0.1', () => third.write('\x00late but welcome'))
    await idleClosed
    await eventually('the third connection carried to the app', () => (carried >= 1 ? true : undefined), 10_000)
    expect(second.destroyed).toBe(false)
    expect(proxy.stats.refused.connection_limit).toBe(1)
    for (const s of [second, third]) s.destroy()
  })
})
