// Opaque TCP: bytes both ways, unchanged, with half-close (one side's FIN is passed on while the
// other direction keeps flowing), a cut passed on (a side destroyed before it was done both ways
// destroys the other), an idle timeout, and byte counts for the tcp_* metrics.
import type {Duplex} from 'node:stream'

export interface PipeResult {
  /** Bytes read from the client and written upstream. */
  fromClient: number
  /** Bytes read from upstream and written to the client. */
  toClient: number
  error?: string
}

/**
 * Joins `client` and `upstream` until both directions are done. `head` (bytes read during
 * detection) goes upstream first. Resolves once both sockets are closed.
 */
export function pipeBoth(client: Duplex, upstream: Duplex, head: Buffer | undefined, idleTimeoutMs: number): Promise<PipeResult> {
  return new Promise((resolve) => {
    const result: PipeResult = {fromClient: 0, toClient: 0}
    let closed = 0
    let timer: NodeJS.Timeout | undefined
    const touch = (): void => { timer?.refresh() }
    if (idleTimeoutMs > 0) {
      timer = setTimeout(() => {
        result.error ??= 'idle timeout'
        client.destroy()
        upstream.destroy()
      }, idleTimeoutMs)
    }
    const onClose = (): void => {
      if (++closed < 2) return
      if (timer) clearTimeout(timer)
      resolve(result)
    }
    // A side closed before it was done both ways (destroyed: the drain's deadline, a connection
    // cap) cuts the other: nothing more can cross, and the other end would stay open until the
    // idle timeout.
    const cutOther = (from: Duplex, other: Duplex) => (): void => {
      if (!other.destroyed && !(from.readableEnded && from.writableFinished)) other.destroy()
    }
    const fail = (err: Error & {code?: string}): void => {
      result.error ??= err.code ?? err.message
      // A reset on one side resets the other: an abortive close is passed on as one.
      client.destroy()
      upstream.destroy()
    }
    const forward = (from: Duplex, to: Duplex, count: (n: number) => void): void => {
      from.on('data', (chunk: Buffer) => {
        count(chunk.length)
        touch()
        if (!to.write(chunk)) {
          from.pause()
          to.once('drain', () => from.resume())
        }
      })
      // The FIN may already have been seen (during detection or before connect).
      if (from.readableEnded) to.end()
      else from.on('end', () => to.end())
    }
    if (head && head.length > 0) {
      result.fromClient += head.length
      upstream.write(head)
    }
    forward(client, upstream, (n) => (result.fromClient += n))
    forward(upstream, client, (n) => (result.toClient += n))
    client.on('error', fail)
    upstream.on('error', fail)
    client.on('close', onClose)
    upstream.on('close', onClose)
    client.on('close', cutOther(client, upstream))
    upstream.on('close', cutOther(upstream, client))
    // A side that has ended both ways closes itself (allowHalfOpen keeps it open until then).
    for (const s of [client, upstream]) {
      s.on('finish', () => { if (s.readableEnded) s.destroy() })
      s.on('end', () => { if (s.writableFinished) s.destroy() })
    }
    client.resume()
    upstream.resume()
  })
}
