// A request body kept, as it streams upstream, so that a retry can send it again (raw codec).
// Kept only when a retry is possible at all, up to the route's maxBodyBytes (64 KiB by
// default) and within the process-wide cap shared with HTTP/2 (../../replay-cap.ts); past
// either the copy is dropped and the request is simply not retried. Chunks are the client's own buffers (no copy); the copy goes as soon as
// a response is accepted or the exchange ends.
import {holdReplayBytes, releaseReplayBytes} from '../../replay-cap.js'

export class KeptBody {
  readonly chunks: Buffer[] = []
  private size = 0

  constructor(private readonly max: number) {}

  /** Keeps `b`; false when it does not fit (the copy is then dropped and must not be used). */
  keep(b: Buffer): boolean {
    if (this.size + b.length > this.max || !holdReplayBytes(b.length)) {
      this.drop()
      return false
    }
    this.chunks.push(b)
    this.size += b.length
    return true
  }

  /** Releases the copy (once; later calls do nothing). */
  drop(): void {
    releaseReplayBytes(this.size)
    this.size = 0
    this.chunks.length = 0
  }
}
