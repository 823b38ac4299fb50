// A client that begins a TLS handshake and does not finish it: it sends a real ClientHello
// naming `servername` (caught from Node's TLS client by a listener that answers nothing), then
// stalls. A mesh proxy's inbound closes it at its handshake timeout (the detect timeout) and
// counts it tls_handshake (test/proxy/tls-attacks.test.ts holds every such case).
import net from 'node:net'
import tls from 'node:tls'

export interface StalledHandshake {
  host: string
  port: number
  /** The SNI: the proxy's identity name, so its inbound terminates the TLS itself. */
  servername: string
  /** The address to connect from (a pod's IP, so the proxy names that pod as the peer). */
  localAddress?: string
}

/** Resolves when the server closed the connection. */
export async function stalledHandshake(o: StalledHandshake): Promise<void> {
  const catcher = net.createServer()
  const hello = new Promise<Buffer>((resolve) => catcher.once('connection', (s: net.Socket) => s.once('data', (d: Buffer) => { resolve(d); s.destroy() })))
  await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', resolve))
  const c = tls.connect({host: '127.0.0.1', port: (catcher.address() as net.AddressInfo).port, servername: o.servername, rejectUnauthorized: false})
  c.on('error', () => {})
  const bytes = await hello
  c.destroy()
  await new Promise<void>((resolve) => catcher.close(() => resolve()))
  const s = net.connect({host: o.host, port: o.port, ...(o.localAddress ? {localAddress: o.localAddress} : {})})
  s.on('error', () => {})
  s.resume()
  await new Promise<void>((resolve) => {
    s.once('connect', () => s.write(bytes))
    s.once('close', () => resolve())
  })
}
