// A small HTTP/1.1 JSON server for the demo apps: routes by method and path pattern, bounded
// header size and timeouts, and a JSON error on anything that throws.
import http from 'node:http'

export type Route = (params: string[], req: http.IncomingMessage) => Promise<{status: number; body: unknown}>

export interface HttpApp {
  server: http.Server
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

/** `routes`: [regexp on the path, handler]; the first match wins, captures become params. */
export function createHttpApp(name: string, routes: Array<[RegExp, Route]>): http.Server {
  const server = http.createServer({maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 65_000}, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app')
    if (url.pathname === '/healthz') return sendJson(res, 200, {service: name, ok: true})
    if (req.method !== 'GET') return sendJson(res, 405, {error: `${name} serves GET only`})
    for (const [re, route] of routes) {
      const m = re.exec(url.pathname)
      if (!m) continue
      route(m.slice(1), req).then(
        (r) => sendJson(res, r.status, r.body),
        (err: unknown) => sendJson(res, 502, {error: `${name}: ${(err as Error).message}`}),
      )
      return
    }
    sendJson(res, 404, {error: `${name} has no route ${url.pathname}`})
  })
  return server
}
