// Inbound mTLS termination: a TLS ClientHello on the inbound port is answered with this proxy's
// certificate (the identity's server context, picked per handshake so rotation takes effect);
// a verified client certificate names the client identity; a presented one that does not
// verify is reported (the policy refuses it).
import {randomBytes, X509Certificate} from 'node:crypto'
import tls from 'node:tls'
import type {Duplex} from 'node:stream'
import type {TapTls} from '../../protocol/tap.js'
import type {Identity} from '../core/contracts.js'

/** What the inbound side learned about a client in the handshake. */
export interface ClientCert {
  presented: boolean
  /** The verified identity (present only when the certificate verified). */
  id?: string
  /** Why a presented certificate did not verify. */
  problem?: string
}

export interface Terminated {
  socket: tls.TLSSocket
  tls: TapTls
  client: ClientCert
}

export class TlsTerminator {
  private readonly server: tls.Server
  private readonly waiting = new WeakMap<Duplex, (t: tls.TLSSocket | undefined, err?: Error) => void>()

  constructor(private readonly identity: Identity, handshakeTimeoutMs: number) {
    this.server = tls.createServer({
      SNICallback: (_name, cb) => {
        const ctx = identity.serverContext()
        if (ctx) cb(null, ctx)
        else cb(new Error('no certificate yet'))
      },
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'http/1.1'],
      handshakeTimeout: handshakeTimeoutMs,
      allowHalfOpen: true,
    })
    this.server.on('secureConnection', (t: tls.TLSSocket) => {
      const raw = (t as unknown as {_parent?: Duplex})._parent
      const done = raw ? this.waiting.get(raw) : undefined
      if (done) done(t)
      else t.destroy()
    })
    this.server.on('tlsClientError', (err, t: tls.TLSSocket) => {
      const raw = (t as unknown as {_parent?: Duplex})._parent
      if (raw) this.waiting.get(raw)?.(undefined, err)
    })
    // A resumed session is accepted on the verification of its full handshake (resumed() below):
    // after the anchors change, every ticket issued before is made useless by new ticket keys, so
    // a client whose anchor was dropped makes a full handshake and is verified again.
    identity.onTrustChange?.(() => this.server.setTicketKeys(randomBytes(48)))
  }

  /** Whether a handshake can be answered now (the identity holds a certificate). */
  get ready(): boolean {
    return this.identity.serverContext() !== undefined
  }

  /** Runs the handshake on `socket` (whose ClientHello bytes are `head`): the TLS connection, or why there is none (the socket closed). */
  terminate(socket: Duplex, head: Buffer): Promise<Terminated | HandshakeFailure> {
    return new Promise((resolve) => {
      this.waiting.set(socket, (t, err) => {
        this.waiting.delete(socket)
        if (!t) {
          socket.destroy()
          return resolve(handshakeFailure(err))
        }
        const client = this.client(t)
        resolve({socket: t, client, tls: {tls: true, clientId: client.id, serverId: this.identity.localName}})
      })
      socket.unshift(head)
      this.server.emit('connection', socket)
    })
  }

  private client(t: tls.TLSSocket): ClientCert {
    const cert = t.getPeerCertificate(true)
    if (!cert || !cert.raw) return {presented: false}
    const name = this.identity.peerName(cert)
    if (!name) return {presented: true, problem: `it must name exactly one DNS identity (got ${cert.subjectaltname?.slice(0, 200) ?? 'no SAN'})`}
    if (t.isSessionReused() && !(cert as tls.DetailedPeerCertificate).issuerCertificate) return resumed(t, cert, name)
    const problem = this.identity.verifyPeer(cert, name)
    return problem ? {presented: true, problem: problem.message} : {presented: true, id: name}
  }
}

/** A handshake that did not finish: why, and whether this proxy refused it (a bound fired, or the peer's TLS did not pass) rather than the peer giving up. */
export interface HandshakeFailure {
  failed: string
  refused: boolean
}

/**
 * What a handshake error says. Refused: the handshake timeout (the detect timeout: a peer that
 * stalls after its ClientHello, or half-closes, holds the connection until then) and OpenSSL's
 * refusals of what the peer sent (a record that is not TLS, a version or cipher it cannot
 * speak). Not refused: the peer's own alert (it gave up on us) and the connection reset.
 */
function handshakeFailure(err: Error | undefined): HandshakeFailure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? ''
  const refused = code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || (code.startsWith('ERR_SSL_') && !code.includes('_ALERT_'))
  return {failed: err?.message.slice(0, 200) ?? 'the connection closed', refused}
}

/**
 * A resumed session carries the client's leaf but not its chain, so the chain cannot be walked
 * again; OpenSSL verified it against the anchors (the context's CA) in the full handshake and
 * kept the result in the session ticket: use that, and check that the leaf is still valid.
 */
function resumed(t: tls.TLSSocket, cert: tls.PeerCertificate, name: string): ClientCert {
  if (!t.authorized) return {presented: true, problem: `resumed session of a certificate that did not verify (${String(t.authorizationError)})`}
  try {
    const x = new X509Certificate(cert.raw)
    const now = Date.now()
    if (Date.parse(x.validFrom) > now || Date.parse(x.validTo) < now) return {presented: true, problem: `resumed session of a certificate outside its validity (${x.validFrom} .. ${x.validTo})`}
  } catch (err) {
    return {presented: true, problem: `the client certificate cannot be parsed: ${(err as Error).message}`}
  }
  return {presented: true, id: name}
}
