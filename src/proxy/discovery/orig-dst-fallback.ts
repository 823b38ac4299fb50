// Where an outbound request goes when discovery does not know its authority. On a connection
// that iptables redirected, the application already chose a destination (the connection's
// original destination, e.g. a Service's cluster IP): an unknown Host (an IP, a name discovery
// does not know) goes there, looked up in discovery as ip:port (a cluster IP resolves to its
// Service's endpoints, with identities, so mTLS), else directly. On a connection made to the
// outbound port on purpose (no original destination), the Host is all there is: DNS.
// An IP authority discovery did not know is not forgotten as unknown: it is reached directly
// while discovery is asked again (recheck.ts), and becomes its endpoints once discovery knows it.
import type {ConnCtx} from '../core/conn.js'
import type {Discovery, Resolution} from '../core/contracts.js'
import {askableIpAuthority} from './ip-authority.js'
import {Rechecker, type RecheckOptions} from './recheck.js'

/** What the router offers: a cached target (fast path) or a promise of it. */
export type ResolveFn<T> = (authority: string) => T | Promise<T>

const MAX_REMEMBERED = 10_000

export class OrigDstFallback implements Discovery {
  /** Authorities discovery answered "not mine" for (bounded; forgotten oldest first). */
  private readonly external = new Set<string>()
  readonly rechecker: Rechecker

  constructor(private readonly inner: Discovery, recheck: RecheckOptions = {}) {
    this.rechecker = new Rechecker(inner, recheck)
  }

  async resolve(authority: string): Promise<Resolution | null> {
    const r = await this.inner.resolve(authority)
    if (r !== null) {
      this.external.delete(authority)
      return r
    }
    if (this.external.size >= MAX_REMEMBERED) this.external.delete(this.external.values().next().value as string)
    this.external.add(authority)
    // A cluster or pod IP discovery may learn later: direct for now, asked about again.
    const ip = askableIpAuthority(authority)
    return (ip && this.rechecker.watch(authority, ip, () => this.external.delete(authority))) ?? null
  }

  /** Whether discovery said it does not know `authority` (and has not learnt it since). */
  isExternal(authority: string): boolean {
    return this.external.has(authority)
  }

  /**
   * The target for a request to `authority` on `conn`: by authority, unless discovery does not
   * know it and the connection was redirected; then by the original destination.
   */
  target<T>(resolve: ResolveFn<T>, authority: string, conn: ConnCtx): T | Promise<T> {
    if (!conn.redirected || authority === conn.authority) return resolve(authority)
    if (this.external.has(authority)) return resolve(conn.authority)
    const t = resolve(authority)
    if (!(t instanceof Promise)) return t
    return t.then((target) => (this.external.has(authority) ? resolve(conn.authority) : target))
  }

  close(): void {
    this.rechecker.close()
    this.inner.close()
  }
}
