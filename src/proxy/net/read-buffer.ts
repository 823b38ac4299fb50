// Reads into a buffer of our own: Node's `onread` (net.connect's option, or attached to an
// accepted socket by readIntoOwnBuffer below). The kernel's bytes land in that buffer and go
// straight to the owner, with no 'data' event through the stream layers (push, addChunk, emit,
// maybeReadMore's tick) and no buffer made per read, as Node's reads otherwise do (a 64 KB
// allocation shrunk to what came).
//
// ReadBuffer is a buffer a connection owns (the raw codec's upstream connections; its client
// connections share one instead and copy out what stays: raw/conn.ts ClientReads). Its one
// rule: the same buffer is read into again only when the owner says it holds none of
// it after the read (`deliver` returns false); else, and when the read size changes, the next
// read goes into a new buffer and the old one stays with whoever holds it until the GC takes it.
// A read that fills the buffer makes the next one `big`; a read no larger than `small` makes it
// `small` again (what a connection keeps while idle).
import type net from 'node:net'

export abstract class ReadBuffer implements net.OnReadOpts {
  private slab: Buffer
  /** The owner may still hold bytes of `slab`. */
  private held = false
  private size: number

  constructor(private small: number, private big: number) {
    this.size = small
    this.slab = Buffer.allocUnsafeSlow(small)
  }

  /** Reads from now on take `n` bytes each, whatever they bring (the next buffer asked for is of that size). */
  protected fixSize(n: number): void {
    this.small = this.big = this.size = n
  }

  /** Hands a read's bytes on; returns whether anything may still hold them (a throw must be contained here, and count as held). */
  protected abstract deliver(chunk: Buffer): boolean

  /** The buffer for the next read (Node calls it after each `callback`). */
  readonly buffer = (): Buffer => {
    if (this.held || this.slab.length !== this.size) {
      this.slab = Buffer.allocUnsafeSlow(this.size)
      this.held = false
    }
    return this.slab
  }

  /** A read is being handled (its bytes are in `slab`): see reentered. */
  private reading = false

  /**
   * A read arrived while the one before it was still being handled: its bytes were written over
   * that read's (Node reads into the buffer it was last given, and asks for the next only after
   * the callback returns). Only a TLS socket can do it (an empty write makes TLSWrap read
   * synchronously: raw/conn.ts RawConn.write), and the proxy never makes such a write, so this is a
   * tripwire: the owner cuts the connection, which can no longer be trusted.
   */
  protected abstract reentered(): void

  readonly callback = (n: number, buf: Uint8Array): boolean => {
    if (this.reading) {
      this.reentered()
      return false
    }
    const slab = buf as Buffer
    if (n === slab.length) this.size = this.big
    else if (n <= this.small) this.size = this.small
    this.held = true
    this.reading = true
    try {
      this.held = this.deliver(slab.subarray(0, n))
    } finally {
      this.reading = false
    }
    // (never false, which stops the reads until the stream reads again: an owner that must wait pauses the socket)
    return true
  }
}

/** Node's own slots for `onread` on a socket (net.js's symbols; one lookup, on a probe socket). */
interface OnreadSlots {
  buffer: symbol
  callback: symbol
  generator: symbol
}

let slots: OnreadSlots | null | undefined

function onreadSlots(probe: object): OnreadSlots | null {
  if (slots !== undefined) return slots
  const find = (name: string): symbol | undefined => Object.getOwnPropertySymbols(probe).find((s) => s.description === name)
  const buffer = find('kBuffer')
  const callback = find('kBufferCb')
  const generator = find('kBufferGen')
  slots = buffer && callback && generator ? {buffer, callback, generator} : null
  return slots
}

interface StreamHandle {
  useUserBuffer?: (buf: Uint8Array) => void
}

/**
 * Makes an accepted TCP socket read as `onread` says from now on, as net.connect's `onread` does
 * for a socket it opens (Node offers no option for the sockets a server accepts): a fixed
 * buffer, or one a function gives before each read (a ReadBuffer). It sets what the Socket
 * constructor sets for `onread` (net.js's kBuffer, kBufferCb, kBufferGen) and installs the
 * buffer on the handle (`useUserBuffer`). Bytes the stream already read and buffered are the
 * caller's to take first (`socket.read()`), or they would come after newer ones. Returns false,
 * and changes nothing, when the runtime does not have that shape (a Node that moved its
 * internals: the socket then reads as before; test/proxy/client-reads.test.ts pins the
 * supported runtimes to true), or the socket has no handle or already reads so.
 */
export function readIntoOwnBuffer(socket: net.Socket, onread: net.OnReadOpts): boolean {
  const s = onreadSlots(socket)
  const handle = (socket as unknown as {_handle?: StreamHandle | null})._handle
  if (s === null || typeof handle?.useUserBuffer !== 'function') return false
  const target = socket as unknown as Record<symbol, unknown>
  if (target[s.buffer] !== null || target[s.callback] !== null || target[s.generator] !== null) return false
  const gen = onread.buffer
  const first = typeof gen === 'function' ? gen() : gen
  target[s.buffer] = first
  if (typeof gen === 'function') target[s.generator] = gen
  target[s.callback] = onread.callback
  handle.useUserBuffer(first)
  return true
}
