// Keys seen recently (client certificate proofs' time/nonce pairs), each until it expires, so
// a captured proof cannot be used twice. Bounded: when full of live keys, new ones are refused
// (the caller retries with a fresh proof later) rather than forgetting live ones.
export class ReplayCache {
  private readonly seen = new Map<string, number>()

  constructor(
    private readonly max = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** False when `key` was seen and has not expired, or the cache is full of live keys. */
  add(key: string, expiresAt: number): boolean {
    const t = this.now()
    if ((this.seen.get(key) ?? 0) > t) return false
    if (this.seen.size >= this.max) this.prune(t)
    if (this.seen.size >= this.max) return false
    this.seen.set(key, expiresAt)
    return true
  }

  get size(): number {
    return this.seen.size
  }

  private prune(t: number): void {
    for (const [k, exp] of this.seen) if (exp <= t) this.seen.delete(k)
  }
}
