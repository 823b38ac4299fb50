// How a demo app reaches another service: only through its own proxy's outbound listener.
// HTTP/1.1 as an HTTP proxy request (absolute-form URL, like HTTP_PROXY users), plain TCP
// through a CONNECT tunnel; gRPC goes as cleartext HTTP/2 (grpc-client.ts).
import http from 'node:http'
import net from 'node:net'

export interface JsonReply {
  status: number
  body: unknown
}

const MAX_BODY = 256 * 1024

export class Outbound {
  private readonly agent = new http.Agent({keepAlive: true, maxSockets: 32})

  constructor(readonly host: string, readonly port: number) {}

  /** GET http://<authority><path> through the proxy; resolves with any status. */
  getJson(authority: string, path: string, timeoutMs = 5000, headers: Record<string, string> = {}): Promise<JsonReply> {
    return new Promise((resolve, reject) => {
      const req = http.request({host: this.host, port: this.port, method: 'GET', path: `http://${authority}${path}`, agent: this.agent, headers: {host: authority, accept: 'application/json', ...headers}, timeout: timeoutMs}, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_BODY) return req.destroy(new Error(`response of ${authority}${path} larger than ${MAX_BODY} bytes`))
          chunks.push(c)
        })
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: unknown = text
          if (String(res.headers['content-type'] ?? '').includes('json')) {
            try {
              body = JSON.parse(text)
            } catch {
              // keep the text
            }
          }
          resolve({status: res.statusCode ?? 0, body})
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`${authority}${path} did not answer within ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end()
    })
  }

  /** One line-protocol exchange over a CONNECT tunnel: sends `line`, resolves with the first line back. */
  tcpRequest(authority: string, line: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({host: this.host, port: this.port})
      let buf = ''
      let tunnel = false
      const done = (err: Error | undefined, value?: string): void => {
        clearTimeout(timer)
        socket.destroy()
        if (err) reject(err)
        else resolve(value!)
      }
      const timer = setTimeout(() => done(new Error(`${authority} did not answer within ${timeoutMs} ms`)), timeoutMs)
      socket.setEncoding('utf8')
      socket.on('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`))
      socket.on('data', (chunk: string) => {
        buf += chunk
        if (buf.length > 16 * 1024) return done(new Error(`${authority}: answer too long`))
        if (!tunnel) {
          const end = buf.indexOf('\r\n\r\n')
          if (end === -1) return
          const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf)?.[1]
          if (status !== '200') return done(new Error(`CONNECT ${authority} refused: ${buf.split('\r\n')[0]}`))
          tunnel = true
          buf = buf.slice(end + 4)
          socket.write(line.endsWith('\n') ? line : line + '\n')
        }
        const nl = buf.indexOf('\n')
        if (tunnel && nl !== -1) done(undefined, buf.slice(0, nl).replace(/\r$/, ''))
      })
      socket.on('error', (err) => done(err))
      socket.on('close', () => done(new Error(`${authority} closed the connection`)))
    })
  }

  close(): void {
    this.agent.destroy()
  }
}
