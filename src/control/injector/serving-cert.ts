// The injector's serving certificate, signed at start-up by the identity issuer the controller
// already holds: the webhook's caBundle is the trust anchors bundle, so `mesh install` renders
// no webhook key and its output stays deterministic. Names: the Service's DNS names (what the
// API server dials) plus any IPs (a controller run outside the cluster, tests). Renewed at
// 70 % of its life and whenever the issuer changes; the server swaps contexts in place.
import {isIP} from 'node:net'
import type {SecureContextOptions} from 'node:tls'
import {buildCertificate, BACKDATE_MS, type AltName} from '../../tls/cert-builder.js'
import {generateRsaKey} from '../../tls/keys.js'
import type {IssuerSource, IssuerState} from '../identity/issuer.js'
import type {Logger} from '../logger.js'

export const INJECTOR_CERT_LIFETIME_MS = 24 * 60 * 60 * 1000

export interface InjectorCertOptions {
  issuer: IssuerSource
  /** DNS names and IP addresses for the subjectAltName. The first is the subject CN. */
  names: string[]
  lifetimeMs?: number
  log: Logger
}

/** `mesh-proxy-injector`, `.mesh-system`, `.mesh-system.svc` and `.svc.cluster.local`. */
export function serviceNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [`${service}.${namespace}.svc`, service, `${service}.${namespace}`, `${service}.${namespace}.svc.${clusterDomain}`]
}

export function signServingCert(state: IssuerState, publicKeyPem: string, names: string[], lifetimeMs = INJECTOR_CERT_LIFETIME_MS, now = Date.now()): {certPem: string; notAfter: Date} {
  const notAfter = new Date(Math.floor(Math.min(now + lifetimeMs, state.notAfter.getTime()) / 1000) * 1000)
  const altNames = names.map((n): AltName => (isIP(n) ? {type: 7, ip: n} : {type: 2, value: n}))
  const certPem = buildCertificate(
    {
      publicKeyPem,
      subjectCommonName: names[0]!,
      notBefore: new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000),
      notAfter,
      extensions: [
        {name: 'basicConstraints', cA: false, critical: true},
        {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
        {name: 'extKeyUsage', serverAuth: true},
        {name: 'subjectAltName', altNames},
      ],
    },
    {issuerCertPem: state.issuer.certPem, issuerKeyPem: state.issuer.keyPem},
  )
  return {certPem, notAfter}
}

export class InjectorCert {
  private keyPem = ''
  private publicKeyPem = ''
  private opts: SecureContextOptions | undefined
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private readonly listeners = new Set<(o: SecureContextOptions) => void>()

  constructor(private readonly o: InjectorCertOptions) {}

  async start(): Promise<void> {
    const key = await generateRsaKey()
    this.keyPem = key.keyPem
    this.publicKeyPem = key.publicKeyPem
    const state = this.o.issuer.current()
    if (!state) throw new Error('no issuer loaded: cannot issue the injector serving certificate')
    this.issue(state)
    this.unsubscribe = this.o.issuer.onChange((s) => this.issue(s))
  }

  tlsOptions(): SecureContextOptions {
    if (!this.opts) throw new Error('injector serving certificate not issued yet')
    return this.opts
  }

  onRenew(listener: (o: SecureContextOptions) => void): void {
    this.listeners.add(listener)
  }

  private issue(state: IssuerState): void {
    if (this.opts && state.notAfter.getTime() <= Date.now()) {
      this.o.log.warn('the issuer has expired; keeping the current injector certificate', {issuerNotAfter: state.notAfter.toISOString()})
      return
    }
    const {certPem, notAfter} = signServingCert(state, this.publicKeyPem, this.o.names, this.o.lifetimeMs)
    // Leaf, then the issuer chain up to (not including) the anchor the caBundle holds.
    this.opts = {key: this.keyPem, cert: certPem + state.chain.join('')}
    for (const l of this.listeners) l(this.opts)
    if (this.timer) clearTimeout(this.timer)
    const life = notAfter.getTime() - Date.now()
    this.timer = setTimeout(() => {
      const s = this.o.issuer.current()
      if (s) this.issue(s)
    }, Math.max(1000, Math.min(life * 0.7, 2 ** 31 - 1)))
    this.timer.unref()
    this.o.log.debug('injector serving certificate issued', {names: this.o.names.join(','), validUntil: notAfter.toISOString()})
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.unsubscribe?.()
  }
}
