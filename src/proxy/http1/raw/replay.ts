// A request body kept, as it streams upstream, so that a retry can send it again (raw codec).
// Kept only when a retry is possible at all, up to the route's maxBodyBytes (64 KiB by
// default) and within a process-wide cap; past either the copy is dropped and the request is
// simply not retried. Chunks are the client's own buffers (no copy); the copy goes as soon as
// a response is accepted or the exchange ends.

/**
 * Bytes all raw-codec bodies may keep at once (as the HTTP/2 path's replay-body.ts): 64 KiB
 * per request times thousands of requests held by a slow upstream would be an unbounded buffer.
 */
const held = {bytes: 0, max: 32 * 1024 * 1024}

/** For tests: sets the process-wide cap; returns the previous one. */
export function setRawReplayCap(bytes: number): number {
  const before = held.max
  held.max = bytes
  return before
}

/** Bytes the raw codec keeps for replay right now, in this process. */
export function rawReplayHeld(): number {
  return held.bytes
}

export class KeptBody {
  readonly chunks: Buffer[] = []
  private size = 0

  constructor(private readonly max: number) {}

  /** Keeps `b`; false when it does not fit (the copy is then dropped and must not be used). */
  keep(b: Buffer): boolean {
    if (this.size + b.length > this.max || held.bytes + b.length > held.max) {
      this.drop()
      return false
    }
    this.chunks.push(b)
    this.size += b.length
    held.bytes += b.length
    return true
  }

  /** Releases the copy (once; later calls do nothing). */
  drop(): void {
    held.bytes -= this.size
    this.size = 0
    this.chunks.length = 0
  }
}
