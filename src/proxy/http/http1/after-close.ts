// Bytes a client sends after a request that closes the connection (Connection: close, HTTP/1.0
// without keep-alive, the last request of a drain) are ignored, as nginx does: never forwarded,
// never answered, not a refusal. They are counted (mesh_proxy_ignored_bytes_total
// {reason="after_close"}, core/ignored.ts), by both HTTP/1 codecs through this module.
import {countIgnored} from '../../core/ignored.js'
import type {Side} from '../../route/side.js'

/**
 * `bytes` ignored after a closing request. The raw codec (raw/conn.ts) counts, once the answer
 * closed its half, what it had buffered past that request, and every later read (the 'data' of
 * a stream, or a read into the connection's own buffer: both reach RawConn.onData, which returns
 * there), until the client closes or the idle timeout does.
 */
export function ignoredAfterClose(side: Side, bytes: number): void {
  countIgnored(side.stats.ignoredBytes, side.observer, side.direction, 'after_close', bytes)
}

/**
 * The node codec: Node's parser reports bytes after a closing request as HPE_CLOSED_CONNECTION,
 * once per read, with that read as `rawPacket`. The first report's `bytesParsed` is one past the
 * first byte it refused (the closing request, and the CR/LF llhttp skips after it, come before
 * that byte); later reports are whole reads of bytes after it (their `bytesParsed` is the first
 * report's, stale). test/proxy/node-internals.test.ts pins this to the running Node.
 */
export function countParserIgnored(side: Side, err: NodeJS.ErrnoException & {rawPacket?: unknown, bytesParsed?: unknown}, first: boolean): void {
  const raw = err.rawPacket
  if (!Buffer.isBuffer(raw)) return
  const parsed = typeof err.bytesParsed === 'number' ? err.bytesParsed : 0
  ignoredAfterClose(side, first ? Math.max(0, raw.length - Math.max(0, parsed - 1)) : raw.length)
}
