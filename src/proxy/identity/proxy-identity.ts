// The proxy's identity: an RSA key made in-process (kept only in memory and, when configured,
// in MESH_PROXY_IDENTITY_DIR with mode 0600), a CSR for the local identity name, a certificate
// from the identity service, renewed at 70 % of its life with backoff on failure. New TLS
// connections get the newest SecureContext; live connections keep the one they started with.
// The anchors start as the env's and follow the trust bundle the destination service streams
// (applyTrustBundle): new contexts with the new CA, key and certificate unchanged.
import type {X509Certificate} from 'node:crypto'
import {existsSync, mkdirSync} from 'node:fs'
import {readFile, writeFile, rename} from 'node:fs/promises'
import path from 'node:path'
import tls, {type PeerCertificate, type SecureContext} from 'node:tls'
import type {Identity} from '../core/contracts.js'
import {PROXY_IDENTITY_REPORT_VERSION, type ProxyIdentityReport} from '../../protocol/proxy-admin.js'
import {anchorInfo, sha256Hex} from '../../tls/anchor-info.js'
import {createCsr} from '../../tls/csr-create.js'
import {generateRsaKey, rsaBits} from '../../tls/keys.js'
import {notAfter, parseCertificate, parseCertificates} from '../../tls/pem.js'
import {singleDnsSan, verifyChain} from '../../tls/verify.js'
import {callCertify} from './certify-client.js'
import type {IdentityLogger, ProxyIdentityConfig} from './config.js'
import {peerIdentityName, verifyPeerCertificate} from './verify-peer.js'
import {checkTrustBundle, TrustBundleRefused, type CheckedBundle} from './trust-bundle.js'

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

/** What applying a trust bundle did. */
export interface TrustApplied {
  /** False when the bundle equals the anchors in use (a reconnect resends it): nothing rebuilt. */
  changed: boolean
  anchors: number
}

export class ProxyIdentity implements Identity {
  readonly localName: string
  private anchors: X509Certificate[]
  private anchorsPem: string
  private bundleRevision: string | undefined
  /** A bundle refused only because our own certificate does not chain to it yet: tried again after each renewal. */
  private deferredBundle: unknown
  private readonly log: IdentityLogger
  private keyPem: string | undefined
  /** The certificate presented now: leaf then chain, PEM and parsed. */
  private certPem: string | undefined
  private chain: X509Certificate[] | undefined
  private server: SecureContext | undefined
  private client: SecureContext | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private failuresInARow = 0
  private readonly st: IdentityStatus = {state: 'pending', certified: 0, failures: 0}
  private resolveReady!: () => void
  private readonly readyPromise: Promise<void>
  private readonly renewListeners = new Set<() => void>()
  private readonly trustListeners = new Set<() => void>()

  constructor(private readonly config: ProxyIdentityConfig) {
    this.localName = config.localName
    this.anchors = parseCertificates(config.trustAnchorsPem, 'trust anchors')
    this.anchorsPem = config.trustAnchorsPem
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

  /** Called after the anchors changed (a trust bundle applied): the inbound TLS server forgets its session tickets. */
  onTrustChange(listener: () => void): () => void {
    this.trustListeners.add(listener)
    return () => this.trustListeners.delete(listener)
  }

  /**
   * Applies a trust bundle from the destination stream: checked (trust-bundle.ts; a refusal
   * throws TrustBundleRefused and the anchors in use stay), then new contexts with the bundle's
   * anchors as CA for new handshakes both ways, peer verification, and the next certify call.
   * Established connections keep the context they started with.
   */
  applyTrustBundle(bundle: unknown): TrustApplied {
    let checked: CheckedBundle
    try {
      checked = checkTrustBundle(bundle, this.chain)
    } catch (err) {
      if (err instanceof TrustBundleRefused && err.selfDistrust) this.deferredBundle = bundle
      throw err
    }
    this.deferredBundle = undefined
    const same = checked.anchorsPem === this.anchors.map((a) => a.toString()).join('')
    this.bundleRevision = checked.revision
    if (same) return {changed: false, anchors: checked.anchors.length}
    this.anchors = checked.anchors
    this.anchorsPem = checked.anchorsPem
    if (this.keyPem && this.certPem) this.buildContexts(this.keyPem, this.certPem)
    this.log.info('trust bundle applied', {revision: checked.revision, anchors: checked.anchors.map((a) => sha256Hex(a).slice(0, 12)).join(',')})
    for (const l of this.trustListeners) l()
    return {changed: true, anchors: checked.anchors.length}
  }

  /** GET /identity (src/protocol/proxy-admin.ts): the certificate presented and the anchors trusted now; public material only. */
  report(): ProxyIdentityReport {
    const st = this.st
    const [leaf] = this.chain ?? []
    return {
      version: PROXY_IDENTITY_REPORT_VERSION,
      identity: this.localName,
      state: st.state === 'ready' ? 'ready' : 'pending',
      ...(leaf && this.certPem ? {certificate: {
        notBefore: new Date(leaf.validFrom).toISOString(),
        notAfter: new Date(leaf.validTo).toISOString(),
        serial: leaf.serialNumber.toLowerCase(),
        sha256: sha256Hex(leaf),
        chainPem: this.certPem,
      }} : {}),
      trustAnchors: this.anchors.map(anchorInfo),
      ...(this.bundleRevision ? {trustBundleRevision: this.bundleRevision} : {}),
      certified: st.certified,
      failures: st.failures,
      ...(st.lastError ? {lastError: st.lastError} : {}),
      ...(st.nextRenewal ? {nextRenewal: st.nextRenewal} : {}),
    }
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
      {url: this.config.identityAddr, anchorsPem: this.anchorsPem, serviceName: this.config.identityServiceName, timeoutMs: this.config.requestTimeoutMs},
      {identity: this.localName, csr, token},
    )
    // Trust, but verify: the leaf names us and chains to our anchors.
    const leaf = parseCertificate(res.certificate, 'issued certificate')
    const chain = res.chain.map((c, i) => parseCertificate(c, `chain certificate #${i + 1}`))
    const problem = verifyChain({leaf, intermediates: chain, anchors: this.anchors})
    if (problem) throw new Error(`the issued certificate does not chain to the trust anchors: ${problem}`)
    if (singleDnsSan(leaf) !== this.localName) throw new Error(`the issued certificate names ${leaf.subjectAltName}, not ${this.localName}`)
    const certPem = res.certificate + res.chain.join('')
    this.buildContexts(key, certPem)
    this.certPem = certPem
    this.chain = [leaf, ...chain]
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
    if (this.deferredBundle !== undefined) this.retryDeferredBundle()
  }

  private buildContexts(key: string, certPem: string): void {
    const opts = {key, cert: certPem, ca: this.anchorsPem}
    this.server = tls.createSecureContext(opts)
    this.client = tls.createSecureContext(opts)
  }

  /** The bundle refused because our old certificate did not chain to it: with the new one it may. */
  private retryDeferredBundle(): void {
    try {
      this.applyTrustBundle(this.deferredBundle)
    } catch (err) {
      this.log.debug('trust bundle still refused after renewal', {error: (err as Error).message})
    }
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
