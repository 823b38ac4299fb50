// Discovery over the destination service's WebSocket stream (src/protocol/destination.ts):
// one stream per authority, shared by every resolve() of it, reconnected with backoff when it
// drops; the last known set stays in use meanwhile. The first message of each connection is
// the full state and replaces what was held. IP authorities are asked about too: the destination
// service answers for a Service's cluster IP like for its name, and "external" for others.
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import type {PeerCertificate} from 'node:tls'
import WebSocket from 'ws'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../protocol/identity.js'
import {identityName} from '../../protocol/proxy-env.js'
import {DESTINATION_PATH, endpointKey, type DestinationMessage, type WireEndpoint} from '../../protocol/destination.js'
import {askable, hostOf} from './ip-authority.js'
import {NoSuchServiceError, type Discovery, type Endpoint, type EndpointSet, type Identity, type Resolution} from '../contracts.js'

export interface DestinationClientOptions {
  /** wss://host:port of the destination service. */
  addr: string
  /** The caller's namespace, for short names (`web:80`). */
  namespace?: string
  /** Trust anchors to verify the destination service (used when no identity is given). */
  trustAnchorsPem?: string
  /** This proxy's identity: its client certificate is presented and its anchors trusted. */
  identity?: Identity
  /** The DNS SAN the destination service must present (default: the controller's identity in mesh-system). */
  serverName?: string
  /** How long resolve() waits for the first answer (default 5 s). */
  resolveTimeoutMs?: number
  backoff?: {minMs: number; maxMs: number}
  log?: {debug(msg: string, f?: Record<string, unknown>): void; warn(msg: string, f?: Record<string, unknown>): void}
}

const MAX_MESSAGE = 4 * 1024 * 1024

function toEndpoint(e: WireEndpoint): Endpoint {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(e.labels ?? {})) if (typeof v === 'string') labels[k] = v
  const ep: Endpoint = {host: e.address, port: e.port, labels}
  if (e.identity) ep.identity = e.identity
  if (e.opaque) ep.opaque = true
  return ep
}

type Outcome = {kind: 'set'} | {kind: 'external'} | {kind: 'noSuchService'} | {kind: 'failed'; error: Error}

class Watch {
  readonly set = new Map<string, Endpoint>()
  readonly listeners = new Set<(s: EndpointSet) => void>()
  refs = 0
  lastError: string | undefined
  private ws: WebSocket | undefined
  private closed = false
  private fresh = true
  private attempts = 0
  private timer: NodeJS.Timeout | undefined
  private settle: ((o: Outcome) => void) | undefined
  readonly first: Promise<Outcome>

  constructor(private readonly authority: string, private readonly o: DestinationClientOptions, private readonly onDead: () => void) {
    this.first = new Promise((r) => (this.settle = r))
    this.connect()
  }

  private anchorsPem: string | undefined

  /** The anchors PEM; MESH_PROXY_IDENTITY_TRUST_ANCHORS_PEM may also name a file. */
  private anchors(): string | undefined {
    const v = this.o.trustAnchorsPem
    if (!v || v.includes('-----BEGIN')) return v
    try {
      this.anchorsPem ??= readFileSync(v, 'utf8')
    } catch {
      this.lastError = `the trust anchors are neither PEM nor a readable file: ${v}`
    }
    return this.anchorsPem
  }

  snapshot(): EndpointSet {
    return {endpoints: [...this.set.values()]}
  }

  private settleOnce(outcome: Outcome): void {
    const s = this.settle
    this.settle = undefined
    s?.(outcome)
  }

  private connect(): void {
    if (this.closed) return
    const url = new URL(DESTINATION_PATH, this.o.addr)
    url.searchParams.set('authority', this.authority)
    if (this.o.namespace) url.searchParams.set('ns', this.o.namespace)
    const ctx = this.o.identity?.clientContext()
    const serverName = this.o.serverName ?? identityName(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system', 'mesh-system')
    const tlsOpts: Record<string, unknown> = ctx ? {secureContext: ctx} : {ca: this.anchors()}
    tlsOpts.checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      const names = (cert.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4))
      return names.includes(serverName) ? undefined : new Error(`the destination service presented ${names.join(', ') || 'no DNS name'}, not ${serverName}`)
    }
    const ws = new WebSocket(url, {...tlsOpts, maxPayload: MAX_MESSAGE, handshakeTimeout: 10_000, perMessageDeflate: false} as WebSocket.ClientOptions)
    this.ws = ws
    this.fresh = true
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return
      let msg: DestinationMessage
      try {
        msg = JSON.parse(data.toString('utf8')) as DestinationMessage
      } catch {
        return
      }
      this.handle(msg)
    })
    ws.on('error', (err) => {
      this.lastError = err.message
      this.o.log?.debug('destination stream error', {authority: this.authority, error: err.message})
    })
    ws.on('close', () => {
      if (this.ws !== ws || this.closed) return
      this.ws = undefined
      this.retry(new Error(`the destination stream for ${this.authority} closed`))
    })
  }

  private retry(error: Error): void {
    if (this.closed) return
    // Nobody waits yet and nothing is known: keep trying until resolve() gives up.
    this.attempts++
    const {minMs, maxMs} = this.o.backoff ?? {minMs: 200, maxMs: 10_000}
    const base = Math.min(maxMs, minMs * 2 ** Math.min(this.attempts - 1, 16))
    const wait = Math.round(base / 2 + (Math.random() * base) / 2)
    this.o.log?.debug('destination stream reconnecting', {authority: this.authority, inMs: wait, error: error.message})
    this.timer = setTimeout(() => this.connect(), wait)
    this.timer.unref()
  }

  private handle(msg: DestinationMessage): void {
    const replace = this.fresh
    this.fresh = false
    // A stream that delivers state resets the backoff; noSuchService/error (followed by a
    // close) keep it growing, so a vanished service is not asked for in a tight loop.
    if (msg.type === 'add' || msg.type === 'remove' || msg.type === 'noEndpoints') this.attempts = 0
    switch (msg.type) {
      case 'add':
        if (replace) this.set.clear()
        for (const e of msg.endpoints ?? []) this.set.set(endpointKey(e), toEndpoint(e))
        break
      case 'remove':
        for (const a of msg.addresses ?? []) this.set.delete(a)
        break
      case 'noEndpoints':
        this.set.clear()
        break
      case 'noSuchService':
        this.set.clear()
        if (this.settle) {
          this.settleOnce(msg.external ? {kind: 'external'} : {kind: 'noSuchService'})
          this.close()
          this.onDead()
          return
        }
        // Gone while watched: an empty set (503 fast) until it comes back.
        break
      case 'error':
        this.o.log?.warn('destination service error', {authority: this.authority, code: msg.code, message: msg.message})
        return
      default:
        return
    }
    this.settleOnce({kind: 'set'})
    const snap = this.snapshot()
    for (const l of this.listeners) l(snap)
  }

  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.ws?.close()
    this.ws = undefined
    this.settleOnce({kind: 'failed', error: new Error('closed')})
  }
}

export class DestinationClient implements Discovery {
  private readonly watches = new Map<string, Watch>()

  constructor(private readonly o: DestinationClientOptions) {
    const u = new URL(o.addr)
    if (u.protocol !== 'wss:' && u.protocol !== 'ws:') throw new Error(`the destination address must be wss://host:port, got ${o.addr}`)
  }

  async resolve(authority: string): Promise<Resolution | null> {
    const key = normalize(authority)
    const host = hostOf(key)
    // IP literals are asked about too (a Service's cluster IP resolves to its endpoints), except
    // addresses no Service can have.
    if (isIP(host) && !askable(host)) return null
    let w = this.watches.get(key)
    if (!w) {
      const created: Watch = new Watch(key, this.o, () => {
        if (this.watches.get(key) === created) this.watches.delete(key)
      })
      w = created
      this.watches.set(key, w)
    }
    const watch = w
    watch.refs++
    const timeoutMs = this.o.resolveTimeoutMs ?? 5000
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      watch.first,
      new Promise<Outcome>((r) => {
        timer = setTimeout(() => r({kind: 'failed', error: new Error(`the destination service did not answer for ${key} within ${timeoutMs} ms${watch.lastError ? ` (last error: ${watch.lastError})` : ''}`)}), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    const release = (): void => {
      watch.refs--
      if (watch.refs <= 0) {
        watch.close()
        if (this.watches.get(key) === watch) this.watches.delete(key)
      }
    }
    switch (outcome.kind) {
      case 'external':
        release()
        return null
      case 'noSuchService':
        release()
        throw new NoSuchServiceError(authority)
      case 'failed':
        release()
        throw outcome.error
      case 'set':
        break
    }
    let closed = false
    return {
      current: () => watch.snapshot(),
      onChange: (listener) => {
        watch.listeners.add(listener)
        return () => watch.listeners.delete(listener)
      },
      close: () => {
        if (closed) return
        closed = true
        release()
      },
    }
  }

  /** Streams currently open (tests, admin). */
  openStreams(): number {
    return this.watches.size
  }

  close(): void {
    for (const w of this.watches.values()) w.close()
    this.watches.clear()
  }
}

function normalize(authority: string): string {
  const a = authority.trim().toLowerCase()
  return /:\d+$/.test(a) && !/^[^[]*:[^\]]*:/.test(a) ? a : `${a}:80`
}
