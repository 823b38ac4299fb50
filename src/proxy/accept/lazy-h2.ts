// HTTP/2 support loaded on first use: a proxy whose traffic is all HTTP/1 (most meshed apps) never
// loads node:http2 nor the http2/ forwarding code (~1.5 MB of resident memory, issue #5). The first
// connection detected as HTTP/2, on either side, loads it with one dynamic import() shared by every
// connection that arrives meanwhile; each such connection stays paused while it loads (bytes that
// arrive meanwhile wait in the socket's buffer, which Node's HTTP/2 session reads on creation).
// Only `import type` from node:http2 and ./http2/ here: both are erased.
import type http2 from 'node:http2'
import type {Duplex} from 'node:stream'
import type {Side} from '../route/side.js'

/** What the lazy server needs of http2/server.ts. */
export type H2Module = Pick<typeof import('../http/http2/server.js'), 'createH2Server' | 'serveH2' | 'sessionsOf'>

let loading: Promise<H2Module> | undefined

/** The HTTP/2 modules, loaded once; a failed load is forgotten so a later connection tries again. */
export function loadH2(): Promise<H2Module> {
  loading ??= import('../http/http2/server.js').catch((err: unknown) => {
    loading = undefined
    throw err
  })
  return loading
}

const ignore = (): void => {}

/** One side's HTTP/2 server, created when its first HTTP/2 connection arrives. */
export class LazyH2Server {
  private mod?: H2Module
  private server?: http2.Http2Server
  private pending?: Promise<H2Module>

  /** `load` is for tests (a failing load); the proxy uses the shared loadH2(). */
  constructor(private readonly side: Side, private readonly load: () => Promise<H2Module> = loadH2) {}

  /** The server, once some connection needed it. */
  get current(): http2.Http2Server | undefined {
    return this.server
  }

  /** Serves `socket` (detected as HTTP/2, left paused; `head` holds the bytes read so far). */
  serve(socket: Duplex, head: Buffer): void {
    if (this.mod && this.server) return this.mod.serveH2(this.server, socket, head)
    // Nothing else listens on the socket until the HTTP/2 session does: an error meanwhile must
    // not be unhandled (it closes the socket, which is then skipped).
    socket.on('error', ignore)
    this.loaded().then((mod) => {
      socket.off('error', ignore)
      if (!socket.destroyed) mod.serveH2(this.server!, socket, head)
    }, (err: unknown) => {
      socket.off('error', ignore)
      this.side.log.error('cannot load HTTP/2 support: connection closed', {error: (err as Error).message})
      socket.destroy()
    })
  }

  /** Loads the modules and creates the server, once for all the connections waiting. */
  private loaded(): Promise<H2Module> {
    this.pending ??= this.load().then((mod) => {
      this.server = mod.createH2Server(this.side)
      this.mod = mod
      return mod
    }, (err: unknown) => {
      this.pending = undefined
      throw err
    })
    return this.pending
  }

  /** The live sessions (shutdown sends each a GOAWAY); none before the server exists. */
  sessions(): Iterable<http2.ServerHttp2Session> {
    return this.mod && this.server ? this.mod.sessionsOf(this.server) : []
  }
}
