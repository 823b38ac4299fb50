// Deterministic bytes for a seed (xorshift32), so a test can name its data by a number and
// regenerate it to compare: a generated case that fails shows its seed, and the same seed gives
// the same bytes. One generator for the suites that had each grown their own copy.

export interface XorshiftOptions {
  /** Visible ASCII (0x21-0x7e) instead of any byte: for heads and field values. */
  ascii?: boolean
}

/** `n` bytes from `seed` (0 counts as 1: xorshift never leaves 0). */
export function xorshiftBytes(seed: number, n: number, opts: XorshiftOptions = {}): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = (seed | 0) || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = opts.ascii ? 0x21 + ((x >>> 0) % 94) : x & 0xff
  }
  return b
}
