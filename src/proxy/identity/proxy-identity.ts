// The proxy's identity: an RSA key made in-process (kept only in memory and, when configured,
// in MESH_PROXY_IDENTITY_DIR with mode 0600), a CSR for the local identity name, a certificate
// from the identity service, renewed at 70 % of its life with backoff on failure. New TLS
// connections get the newest SecureContext; live connections keep the one they started with.
import type {X509Certificate} from 'node:crypto'
import {existsSync, mkdirSync} from 'node:fs'
import {readFile, writeFile, rename} from 'node:fs/promises'
import path from 'node:path'
import tls, {type PeerCertificate, type SecureContext} from 'node:tls'
import type {Identity} from '../core/contracts.js'
import {createCsr} from '../../tls/csr-create.js'
import {generateRsaKey, rsaBits} from '../../tls/keys.js'
import {notAfter, parseCertificate, parseCertificates} from '../../tls/pem.js'
import {singleDnsSan, verifyChain} from '../../tls/verify.js'
import {callCertify} from './certify-client.js'
import type {IdentityLogger, ProxyIdentityConfig} from './config.js'
import {peerIdentityName, verifyPeerCertificate} from './verify-peer.js'

export const KEY_FILE = 'key.pem'
export const CERT_FILE = 'crt.pem'

const quiet: IdentityLogger = {debug: () => {}, info: () => {}, warn: () => {}}

export interface IdentityStatus {
  state: 'pending' | 'ready' | 'closed'
  validUntil?: string
  /** Successful certify calls, the first one included. */
  certified: number
  failures: number
  lastError?: string
  nextRenewal?: string
}

export class ProxyIdentity implements Identity {
  readonly localName: string
  private readonly anchors: X509Certificate[]
  private readonly log: IdentityLogger
  private keyPem: string | undefined
  private server: SecureContext | undefined
  private client: SecureContext | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private failuresInARow = 0
  private readonly st: IdentityStatus = {state: 'pending', certified: 0, failures: 0}
  private resolveReady!: () => void
  private readonly readyPromise: Promise<void>
  private readonly renewListeners = new Set<() => void>()

  constructor(private readonly config: ProxyIdentityConfig) {
    this.localName = config.localName
    this.anchors = parseCertificates(config.trustAnchorsPem, 'trust anchors')
    this.log = config.log ?? quiet
    this.readyPromise = new Promise((r) => (this.resolveReady = r))
  }

  /** Loads or makes the key, then certifies in the background; ready() resolves on success. */
  async start(): Promise<void> {
    this.keyPem = await this.loadOrCreateKey()
    void this.certifyLoop()
  }

  ready(): Promise<void> {
    return this.readyPromise
  }

  serverContext(): SecureContext | undefined {
    return this.server
  }

  clientContext(): SecureContext | undefined {
    return this.client
  }

  verifyPeer(cert: PeerCertificate, expected: string): Error | undefined {
    return verifyPeerCertificate(cert, expected, this.anchors)
  }

  peerName(cert: PeerCertificate): string | undefined {
    return peerIdentityName(cert)
  }

  status(): IdentityStatus {
    return {...this.st}
  }

  /** Called after each new certificate (tests, admin). */
  onRenew(listener: () => void): () => void {
    this.renewListeners.add(listener)
    return () => this.renewListeners.delete(listener)
  }

  /** Certify now (outside the schedule); resolves when a new certificate is held. */
  async renewNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    await this.certifyOnce()
    this.schedule()
  }

  close(): void {
    this.closed = true
    this.st.state = 'closed'
    if (this.timer) clearTimeout(this.timer)
  }

  private async loadOrCreateKey(): Promise<string> {
    const dir = this.config.dir
    const file = dir ? path.join(dir, KEY_FILE) : undefined
    if (file && existsSync(file)) {
      const pem = await readFile(file, 'utf8')
      if ((rsaBits(pem) ?? 0) >= 2048) {
        this.log.debug('reusing the key in the identity directory', {dir})
        return pem
      }
    }
    const {keyPem} = await generateRsaKey(this.config.keyBits)
    if (dir && file) {
      mkdirSync(dir, {recursive: true, mode: 0o700})
      await writeFile(file + '.tmp', keyPem, {mode: 0o600})
      await rename(file + '.tmp', file)
    }
    return keyPem
  }

  private async certifyLoop(): Promise<void> {
    while (!this.closed) {
      try {
        await this.certifyOnce()
        this.schedule()
        return
      } catch (err) {
        this.failuresInARow++
        this.st.failures++
        this.st.lastError = (err as Error).message
        const wait = this.backoffMs()
        this.log.warn('certify failed; retrying', {error: this.st.lastError, retryInMs: wait})
        await new Promise((r) => {
          this.timer = setTimeout(r, wait)
        })
      }
    }
  }

  private backoffMs(): number {
    const {minMs, maxMs} = this.config.backoff ?? {minMs: 500, maxMs: 30_000}
    const base = Math.min(maxMs, minMs * 2 ** Math.min(this.failuresInARow - 1, 20))
    return Math.round(base / 2 + (Math.random() * base) / 2)
  }

  private async certifyOnce(): Promise<void> {
    const key = this.keyPem!
    const token = (await readFile(this.config.tokenFile, 'utf8')).trim()
    const csr = createCsr(key, this.localName)
    const res = await callCertify(
      {url: this.config.identityAddr, anchorsPem: this.config.trustAnchorsPem, serviceName: this.config.identityServiceName, timeoutMs: this.config.requestTimeoutMs},
      {identity: this.localName, csr, token},
    )
    // Trust, but verify: the leaf names us and chains to our anchors.
    const leaf = parseCertificate(res.certificate, 'issued certificate')
    const chain = res.chain.map((c, i) => parseCertificate(c, `chain certificate #${i + 1}`))
    const problem = verifyChain({leaf, intermediates: chain, anchors: this.anchors})
    if (problem) throw new Error(`the issued certificate does not chain to the trust anchors: ${problem}`)
    if (singleDnsSan(leaf) !== this.localName) throw new Error(`the issued certificate names ${leaf.subjectAltName}, not ${this.localName}`)
    const certPem = res.certificate + res.chain.join('')
    const opts = {key, cert: certPem, ca: this.config.trustAnchorsPem}
    this.server = tls.createSecureContext(opts)
    this.client = tls.createSecureContext(opts)
    if (this.config.dir) {
      const file = path.join(this.config.dir, CERT_FILE)
      await writeFile(file + '.tmp', certPem, {mode: 0o600})
      await rename(file + '.tmp', file)
    }
    this.failuresInARow = 0
    this.st.certified++
    this.st.validUntil = notAfter(leaf).toISOString()
    this.st.lastError = undefined
    const first = this.st.state === 'pending'
    this.st.state = 'ready'
    this.log.info(first ? 'certified' : 'certificate renewed', {identity: this.localName, validUntil: this.st.validUntil})
    if (first) this.resolveReady()
    for (const l of this.renewListeners) l()
  }

  private schedule(): void {
    if (this.closed || !this.st.validUntil) return
    const end = new Date(this.st.validUntil).getTime()
    const now = Date.now()
    const fraction = this.config.renewFraction ?? 0.7
    const delay = Math.max(0, Math.min((end - now) * fraction, 2 ** 31 - 1))
    this.st.nextRenewal = new Date(now + delay).toISOString()
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.failuresInARow = 0
      void this.certifyLoop()
    }, delay)
    this.timer.unref()
  }
}

/** Creates the identity and starts certifying; await `identity.ready()` before reporting ready. */
export async function startIdentity(config: ProxyIdentityConfig): Promise<ProxyIdentity> {
  const id = new ProxyIdentity(config)
  await id.start()
  return id
}
