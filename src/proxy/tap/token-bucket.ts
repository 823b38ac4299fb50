// A token bucket: `rate` tokens per second, holding at most `rate` (one second of burst).
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate
    this.last = now()
  }

  take(): boolean {
    const t = this.now()
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
