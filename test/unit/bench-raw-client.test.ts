// The benchmark's lean HTTP/1.1 client (bench/proxy/raw-client.ts) against a real Node server:
// it must count exactly the complete 200s, over keep-alive, chunked and Content-Length bodies,
// responses split across reads, servers that close, and fail the rest.
import {Buffer} from 'node:buffer'
import http from 'node:http'
import net from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {rawClient, type Client} from '../../bench/proxy/raw-client.js'
import {openLoopRun} from '../../bench/proxy/load.js'

const closers: (() => void)[] = []
afterEach(() => {
  for (const c of closers.splice(0)) c()
})

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => server.close())
  return (server.address() as net.AddressInfo).port
}

function send(client: Client): Promise<boolean> {
  return new Promise((resolve) => client.send(resolve))
}

describe('bench raw client', () => {
  it('counts 200s with Content-Length and chunked bodies, on reused connections', async () => {
    const conns = new Set<net.Socket>()
    const seen: string[] = []
    const server = http.createServer((req, res) => {
      conns.add(req.socket)
      seen.push(`${req.method} ${req.url} ${req.headers.host}`)
      const n = seen.length
      if (n % 3 === 0) res.writeHead(503).end('no')
      else if (n % 3 === 1) res.writeHead(200, {'content-length': 1024}).end(Buffer.alloc(1024, 'a'))
      else {
        res.writeHead(200) // chunked
        res.write(Buffer.alloc(700, 'b'))
        setTimeout(() => res.end(Buffer.alloc(300, 'c')), 5)
      }
    })
    const port = await listen(server)
    const client = rawClient(port, 'bench.local')
    closers.push(() => client.close())
    const results: boolean[] = []
    for (let i = 0; i < 9; i++) results.push(await send(client))
    expect(results).toEqual([true, true, false, true, true, false, true, true, false])
    expect(seen[0]).toBe('GET / bench.local')
    expect(conns.size).toBe(1) // one request at a time: one keep-alive connection
  })

  it('reads a response that arrives a byte at a time', async () => {
    const body = 'x'.repeat(50)
    const response = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    const server = net.createServer((s) => {
      s.setNoDelay(true)
      s.once('data', () => {
        let at = 0
        const next = (): void => {
          if (at === response.length) return
          s.write(response.subarray(at, ++at))
          setImmediate(next)
        }
        next()
      })
    })
    const client = rawClient(await listen(server), 'h')
    closers.push(() => client.close())
    expect(await send(client)).toBe(true)
  })

  it('fails a request whose connection closes early, and goes on with a new connection', async () => {
    let n = 0
    const server = net.createServer((s) => {
      s.on('data', () => {
        n++
        if (n === 1) s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort') // 5 of 10 bytes, then FIN
        else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      })
    })
    const client = rawClient(await listen(server), 'h')
    closers.push(() => client.close())
    expect(await send(client)).toBe(false)
    expect(await send(client)).toBe(true)
  })

  it('closes after Connection: close and fails bodies it cannot delimit', async () => {
    let accepted = 0
    const server = net.createServer((s) => {
      accepted++
      s.once('data', () => {
        if (accepted === 1) s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok')
        else s.end('HTTP/1.1 200 OK\r\n\r\nup to the close')
      })
    })
    const client = rawClient(await listen(server), 'h')
    closers.push(() => client.close())
    expect(await send(client)).toBe(true)
    expect(await send(client)).toBe(false)
    expect(accepted).toBe(2)
  })

  it('queues beyond its connection cap, and the open loop counts every request once', async () => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 20))
    const client = rawClient(await listen(server), 'h', 2)
    closers.push(() => client.close())
    // 200 rps for 0.25 s with 20 ms answers and two connections: requests wait their turn
    const run = await openLoopRun(client, 200, 0.25)
    expect(run.lat.length).toBe(50)
    expect(run.ok).toBe(50)
    // latency from the intended send time: the queue shows (2 connections serve 100 rps at most)
    expect(Math.max(...run.lat)).toBeGreaterThan(100)
  })
})
