// The retry budget: retries may add `ratio` of the requests seen in the last 10 s plus
// `minPerSecond` per second, so a failing upstream gets at most ~20 % extra load, never a storm.
const WINDOW_S = 10

export class RetryBudget {
  private readonly requests = new Float64Array(WINDOW_S)
  private readonly retries = new Float64Array(WINDOW_S)
  private second = Math.floor(performance.now() / 1000)

  constructor(private readonly ratio: number, private readonly minPerSecond: number) {}

  private roll(): number {
    const now = Math.floor(performance.now() / 1000)
    if (now !== this.second) {
      const steps = Math.min(WINDOW_S, now - this.second)
      for (let i = 1; i <= steps; i++) {
        const slot = (this.second + i) % WINDOW_S
        this.requests[slot] = 0
        this.retries[slot] = 0
      }
      this.second = now
    }
    return now % WINDOW_S
  }

  /** Counts one original request. */
  deposit(): void {
    this.requests[this.roll()]++
  }

  /** Takes one retry from the budget; false when it is spent. */
  withdraw(): boolean {
    const slot = this.roll()
    let req = 0
    let ret = 0
    for (let i = 0; i < WINDOW_S; i++) {
      req += this.requests[i]
      ret += this.retries[i]
    }
    if (ret + 1 > req * this.ratio + this.minPerSecond * WINDOW_S) return false
    this.retries[slot]++
    return true
  }
}
