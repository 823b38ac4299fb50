// The API server's service proxy drops the query string of a WebSocket upgrade: the CLI sends
// it again in x-mesh-query, and the tap server acts on that header when present. Real tap
// server, real proxy, a raw WebSocket with no query in its URL.
import http from 'node:http'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {QUERY_HEADER, type TapStreamMessage} from '../../src/control/tap/api.js'
import {startLocalPlane, startMeshPod, type MeshPod, type Plane} from './harness.js'

let books: MeshPod
let plane: Plane

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  plane = await startLocalPlane([books.info])
})

afterAll(async () => {
  await plane?.close()
  await books?.stop()
})

/** The first message of a stream at `path` with these headers, or the HTTP refusal. */
function firstMessage(path: string, headers: Record<string, string>): Promise<{status: number; message?: TapStreamMessage; body?: any}> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(plane.server.url.replace('http', 'ws') + path, {headers: {authorization: `Bearer ${plane.token}`, ...headers}})
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
    })
    ws.once('message', (d) => {
      resolve({status: 101, message: JSON.parse(String(d)) as TapStreamMessage})
      ws.close()
    })
    ws.on('error', reject)
  })
}

describe('the query in the x-mesh-query header', () => {
  it('a tap stream whose URL lost its query still starts from the header', async () => {
    const r = await firstMessage('/v1/tap', {[QUERY_HEADER]: 'resource=deploy%2Fbooks&namespace=default'})
    expect(r).toEqual({status: 101, message: {type: 'podStart', pod: 'default/books-0'}})
    const none = await firstMessage('/v1/tap', {})
    expect(none.status).toBe(400)
    expect(none.body.error.message).toContain('missing query parameter resource')
  })

  it('the header wins over the URL query (it is what a client certificate proof signs)', async () => {
    const r = await firstMessage('/v1/tap?resource=deploy%2Fnope', {[QUERY_HEADER]: 'resource=deploy%2Fbooks'})
    expect(r.message).toEqual({type: 'podStart', pod: 'default/books-0'})
  })

  it('a header longer than 8 KiB is a bad query', async () => {
    const status = await new Promise<{status: number; body: any}>((resolve, reject) => {
      const req = http.get(`${plane.server.url}/v1/stat`, {headers: {authorization: `Bearer ${plane.token}`, [QUERY_HEADER]: `resource=deploy&x=${'a'.repeat(9000)}`}}, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
      })
      req.on('error', reject)
    })
    expect(status.status).toBe(400)
    expect(status.body.error.message).toContain(`${QUERY_HEADER} header is longer`)
  })
})
