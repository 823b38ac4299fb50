// A request body forwarded as it arrives and, up to a limit, kept so that a retry can send it
// again. Forwarding never waits for the end of the body (a bidi gRPC stream may wait for
// replies before sending more); a retry replays what was kept and then carries on with the
// rest. Once the body outgrows the limit (or a response is accepted) the copy is dropped and
// the body can no longer be replayed.
import type http2 from 'node:http2'
import {holdReplayBytes, releaseReplayBytes} from '../replay-cap.js'

/** The process-wide cap on kept bytes is shared with the raw HTTP/1 codec (../replay-cap.ts). */
export {replayHeld, setReplayCap} from '../replay-cap.js'

export class ReplayBody {
  private chunks: Buffer[] = []
  private size = 0
  /** Bytes counted in the process-wide pool. */
  private kept = 0
  private overflow: boolean
  private ended: boolean
  private target?: http2.ClientHttp2Stream
  private listening = false
  private waiting = false

  /** `ended`: the request had END_STREAM on its headers (no body). `max` 0 keeps nothing. */
  constructor(private readonly src: http2.ServerHttp2Stream, private readonly max: number, ended: boolean) {
    this.ended = ended
    this.overflow = max <= 0 && !ended
  }

  /** True while an attempt could send the whole body again. */
  get replayable(): boolean {
    return !this.overflow
  }

  /** True when nothing more will come and nothing was sent (END_STREAM on the headers). */
  get empty(): boolean {
    return this.ended && this.size === 0
  }

  /** Sends the body (what was kept, then the rest as it comes) on `up`, the current attempt. */
  attach(up: http2.ClientHttp2Stream): void {
    this.target = up
    for (const c of this.chunks) up.write(c)
    if (this.ended) {
      if (!up.writableEnded) up.end()
      return
    }
    if (this.waiting) {
      this.waiting = false
      this.src.resume()
    }
    if (!this.listening) {
      this.listening = true
      this.src.on('data', (c: Buffer) => this.onData(c))
      this.src.on('end', () => {
        this.ended = true
        if (this.target && !this.target.destroyed && !this.target.writableEnded) this.target.end()
      })
    }
  }

  /** A response was accepted (or the request is over): no more retries, the copy goes. */
  commit(): void {
    this.overflow = true
    this.chunks = []
    releaseReplayBytes(this.kept)
    this.kept = 0
  }

  private onData(c: Buffer): void {
    if (!this.overflow) {
      if (this.size + c.length <= this.max && holdReplayBytes(c.length)) {
        this.chunks.push(c)
        this.size += c.length
        this.kept += c.length
      } else {
        this.commit()
      }
    }
    const up = this.target
    if (!up || up.destroyed) return
    if (!up.write(c)) {
      this.waiting = true
      this.src.pause()
      up.once('drain', () => {
        if (this.target === up && this.waiting) {
          this.waiting = false
          this.src.resume()
        }
      })
    }
  }
}
