// The control plane's own TLS certificates (identity :8080, destination :8086): signed by the
// issuer it already holds, named like a proxy identity (`mesh-controller.<ns>.serviceaccount...`)
// so proxies verify them the same way they verify peers. Renewed at 70 % of their life and
// whenever the issuer changes; servers swap contexts with setSecureContext (live connections
// keep theirs).
import type {SecureContextOptions} from 'node:tls'
import {generateRsaKey, publicKeyOf} from '../../tls/keys.js'
import {signLeaf} from '../../tls/leaf.js'
import type {Logger} from '../logger.js'
import type {IssuerSource, IssuerState} from './issuer.js'

export interface ServingCertOptions {
  name: string
  issuer: IssuerSource
  lifetimeMs?: number
  log: Logger
}

export class ServingCert {
  private keyPem: string | undefined
  private opts: SecureContextOptions | undefined
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private readonly listeners = new Set<(o: SecureContextOptions) => void>()

  constructor(private readonly o: ServingCertOptions) {}

  async start(): Promise<void> {
    this.keyPem = (await generateRsaKey()).keyPem
    const state = this.o.issuer.current()
    if (!state) throw new Error('no issuer loaded: cannot issue the serving certificate')
    this.issue(state)
    this.unsubscribe = this.o.issuer.onChange((s) => this.issue(s))
  }

  /** key, cert (leaf + chain) and ca (trust anchors, to verify client certificates). */
  tlsOptions(): SecureContextOptions {
    if (!this.opts) throw new Error('serving certificate not issued yet')
    return this.opts
  }

  onRenew(listener: (o: SecureContextOptions) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private issue(state: IssuerState): void {
    if (this.opts && state.notAfter.getTime() <= Date.now()) {
      // An expired issuer cannot make a usable certificate: keep serving with the current one,
      // so clients can still reach us and read why certify refuses.
      this.o.log.warn('the issuer has expired; keeping the current serving certificate', {name: this.o.name, issuerNotAfter: state.notAfter.toISOString()})
      return
    }
    const key = this.keyPem!
    const leaf = signLeaf(state.issuer, {publicKeyPem: publicKeyOf(key), dnsName: this.o.name, lifetimeMs: this.o.lifetimeMs})
    this.opts = {key, cert: leaf.certPem + state.chain.join(''), ca: state.anchorsPem}
    for (const l of this.listeners) l(this.opts)
    if (this.timer) clearTimeout(this.timer)
    const life = leaf.notAfter.getTime() - Date.now()
    this.timer = setTimeout(() => {
      const s = this.o.issuer.current()
      if (s) this.issue(s)
    }, Math.max(1000, Math.min(life * 0.7, 2 ** 31 - 1)))
    this.timer.unref()
    this.o.log.debug('serving certificate issued', {name: this.o.name, validUntil: leaf.notAfter.toISOString()})
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.unsubscribe?.()
  }
}
