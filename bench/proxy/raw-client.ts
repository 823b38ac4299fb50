// The open-loop generator's HTTP/1.1 client: keep-alive sockets written a request prepared once
// and read by a parser that only finds where each response ends (Content-Length or chunked).
// Node's http client costs ~300 µs of CPU per request here at 1,000 rps, more than a proxy; on a
// 2-vCPU machine that CPU is taken from the paths being measured. This one costs a third of it.
import {Buffer} from 'node:buffer'
import net from 'node:net'

/** Sends one request; `done` gets whether a 200 came back in full. */
export interface Client {
  send(done: (ok: boolean) => void): void
  close(): void
  /** Connections opened so far (when the client counts them). */
  opened?(): number
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

/** Keep-alive connections to 127.0.0.1:`port`, at most `maxConns`, the last freed reused first. */
export function rawClient(port: number, host: string, maxConns = 512): Client {
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1')
  const idle: RawConn[] = []
  const open = new Set<RawConn>()
  const queued: ((ok: boolean) => void)[] = []
  let closed = false
  let opened = 0
  const free = (c: RawConn): void => {
    const next = queued.shift()
    if (next) c.send(next)
    else idle.push(c)
  }
  const gone = (c: RawConn): void => {
    open.delete(c)
    const i = idle.indexOf(c)
    if (i >= 0) idle.splice(i, 1)
    if (!closed && queued.length > 0 && open.size < maxConns) connect().send(queued.shift()!)
  }
  const connect = (): RawConn => {
    const c = new RawConn(port, request, free, gone)
    opened++
    open.add(c)
    return c
  }
  return {
    opened: () => opened,
    send(done) {
      if (closed) return done(false)
      const c = idle.pop()
      if (c) c.send(done)
      else if (open.size < maxConns) connect().send(done)
      else queued.push(done)
    },
    close() {
      closed = true
      for (const c of open) c.destroy()
      for (const done of queued.splice(0)) done(false)
    },
  }
}

/** One connection, one request at a time. */
class RawConn {
  private readonly socket: net.Socket
  private done: ((ok: boolean) => void) | undefined
  private buf: Buffer | undefined
  private status = 0
  /** Body bytes still to come (Content-Length), or -1 while chunked. */
  private remaining = 0
  private inBody = false
  private keepAlive = true

  constructor(port: number, private readonly request: Buffer, private readonly free: (c: RawConn) => void, private readonly gone: (c: RawConn) => void) {
    this.socket = net.connect(port, '127.0.0.1')
    this.socket.setNoDelay(true)
    this.socket.on('data', (d: Buffer) => this.onData(d))
    this.socket.on('error', () => {})
    this.socket.on('close', () => {
      this.finish(false)
      this.gone(this)
    })
  }

  send(done: (ok: boolean) => void): void {
    this.done = done
    this.status = 0
    this.inBody = false
    this.socket.write(this.request)
  }

  destroy(): void {
    this.socket.destroy()
  }

  private finish(ok: boolean): void {
    const done = this.done
    if (!done) return
    this.done = undefined
    this.buf = undefined
    done(ok)
  }

  private onData(d: Buffer): void {
    if (!this.done) {
      this.socket.destroy() // bytes nobody asked for
      return
    }
    let chunk = this.buf ? Buffer.concat([this.buf, d]) : d
    this.buf = undefined
    if (!this.inBody) {
      const end = chunk.indexOf(CRLFCRLF)
      if (end < 0) {
        if (chunk.length > 16384) return this.fail()
        this.buf = chunk
        return
      }
      const head = chunk.toString('latin1', 0, end).toLowerCase()
      this.status = Number(head.slice(9, 12))
      this.keepAlive = !/\r\nconnection:[ \t]*close/.test(head)
      const cl = /\r\ncontent-length:[ \t]*(\d+)/.exec(head)
      if (cl) this.remaining = Number(cl[1])
      else if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) this.remaining = -1
      else return this.fail() // a body up to the close: the benchmark's paths never send one
      this.inBody = true
      chunk = chunk.subarray(end + 4)
    }
    if (this.remaining >= 0) {
      if (chunk.length < this.remaining) {
        this.remaining -= chunk.length
        return
      }
      if (chunk.length > this.remaining) return this.fail() // pipelined bytes we did not ask for
      return this.complete()
    }
    this.chunked(chunk)
  }

  /** Chunked body: skips chunk by chunk until the last one and its empty trailer line. */
  private chunked(chunk: Buffer): void {
    let at = 0
    for (;;) {
      const eol = chunk.indexOf('\r\n', at, 'latin1')
      if (eol < 0) break
      const size = Number.parseInt(chunk.toString('latin1', at, eol), 16)
      if (!Number.isFinite(size)) return this.fail()
      if (size === 0) {
        // the last chunk, then (no trailers from these paths) an empty line
        if (chunk.length < eol + 4) break
        return this.complete()
      }
      if (chunk.length < eol + 2 + size + 2) break
      at = eol + 2 + size + 2
    }
    this.buf = chunk.subarray(at)
  }

  private complete(): void {
    const ok = this.status === 200
    this.finish(ok)
    if (this.keepAlive) this.free(this)
    else this.socket.destroy()
  }

  private fail(): void {
    this.finish(false)
    this.socket.destroy()
  }
}
