import {execFile} from 'node:child_process'
import {connect} from 'node:net'
import {promisify} from 'node:util'
import {gunzipSync} from 'node:zlib'
import {afterEach, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {createProxyMetrics, parseMetrics} from '../../src/metrics/index.js'
import {isLoopback, parseListenAddr, startAdmin, type AdminServer} from '../../src/proxy/admin/index.js'

const run = promisify(execFile)
let admin: AdminServer | undefined

afterEach(async () => {
  await admin?.close()
  admin = undefined
})

async function start(over: Partial<Parameters<typeof startAdmin>[0]> = {}) {
  const state = {ready: false, level: 'info', shutdowns: 0}
  const {registry, observer} = createProxyMetrics({version: '0.0.1'})
  admin = await startAdmin({
    listen: '127.0.0.1:0',
    registry,
    ready: () => state.ready,
    onShutdown: () => state.shutdowns++,
    getLogLevel: () => state.level,
    setLogLevel: (l) => {
      if (!['error', 'warn', 'info', 'debug', 'trace'].includes(l)) throw new Error('expected error, warn, info, debug or trace')
      state.level = l
    },
    ...over,
  })
  return {state, observer, url: admin.url}
}

/** curl: status code and body. */
async function curl(args: string[]): Promise<{status: number; body: string}> {
  const {stdout} = await run('curl', ['-s', '-S', '--max-time', '5', '-w', '\n%{http_code}', ...args])
  const i = stdout.lastIndexOf('\n')
  return {status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i)}
}

describe('admin server', () => {
  it('serves /metrics in the text format, with the proxy families, and gzip when asked', async () => {
    const {url} = await start()
    const res = await fetch(`${url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const fams = parseMetrics(await res.text())
    expect(fams.get('mesh_proxy_build_info')!.samples[0].labels.version).toBe('0.0.1')
    expect(fams.has('process_cpu_seconds_total')).toBe(true)
    const {stdout} = await run('curl', ['-s', '--max-time', '5', '-H', 'accept-encoding: gzip', '-D', '-', '-o', '/dev/null', `${url}/metrics`])
    expect(stdout.toLowerCase()).toContain('content-encoding: gzip')
    const raw = await fetch(`${url}/metrics`, {headers: {'accept-encoding': 'gzip'}})
    expect(raw.status).toBe(200)
    // fetch decodes gzip itself; the body is still the exposition
    expect(await raw.text()).toContain('# TYPE request_total counter')
    expect(gunzipSync(Buffer.from((await run('curl', ['-s', '--max-time', '5', '-H', 'accept-encoding: gzip', `${url}/metrics`], {encoding: 'buffer'})).stdout)).toString()).toContain('process_open_fds')
  })

  it('/ready is 503 until the readiness predicate holds, then 200; /live is 200', async () => {
    const {state, url} = await start()
    expect(await curl([`${url}/ready`])).toEqual({status: 503, body: 'not ready\n'})
    state.ready = true
    expect(await curl([`${url}/ready`])).toEqual({status: 200, body: 'ready\n'})
    expect(await curl([`${url}/live`])).toEqual({status: 200, body: 'live\n'})
  })

  it('POST /shutdown from localhost answers 200, then calls the callback once', async () => {
    const {state, url} = await start()
    expect(await curl(['-X', 'POST', `${url}/shutdown`])).toEqual({status: 200, body: 'shutdown\n'})
    await eventually('the shutdown callback', () => (state.shutdowns > 0 ? true : undefined), {intervalMs: 10})
    expect(state.shutdowns).toBe(1)
    await curl(['-X', 'POST', `${url}/shutdown`])
    // A fixed pause on purpose: "not called again" is a negative no event can announce.
    await new Promise((r) => setTimeout(r, 50))
    expect(state.shutdowns).toBe(1)
  })

  it('GET /shutdown is 405 with Allow, and does not shut down', async () => {
    const {state, url} = await start()
    const res = await fetch(`${url}/shutdown`)
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
    expect(state.shutdowns).toBe(0)
  })

  it('GET/PUT /proxy-log-level reads and sets the level, and rejects a bad one with 400', async () => {
    const {state, url} = await start()
    expect(await curl([`${url}/proxy-log-level`])).toEqual({status: 200, body: 'info\n'})
    expect(await curl(['-X', 'PUT', '--data-binary', 'debug\n', `${url}/proxy-log-level`])).toEqual({status: 204, body: ''})
    expect(state.level).toBe('debug')
    const bad = await curl(['-X', 'PUT', '--data-binary', 'loud', `${url}/proxy-log-level`])
    expect(bad.status).toBe(400)
    expect(bad.body).toBe('invalid log level "loud": expected error, warn, info, debug or trace\n')
    expect(state.level).toBe('debug')
    expect((await curl(['-X', 'POST', `${url}/proxy-log-level`])).status).toBe(405)
  })

  it('refuses a PUT body over 1 KiB with 413, declared or streamed', async () => {
    const {state, url} = await start()
    const big = 'x'.repeat(5000)
    expect((await curl(['-X', 'PUT', '--data-binary', big, `${url}/proxy-log-level`])).status).toBe(413)
    expect((await curl(['-X', 'PUT', '-H', 'transfer-encoding: chunked', '--data-binary', big, `${url}/proxy-log-level`])).status).toBe(413)
    expect(state.level).toBe('info')
  })

  it('answers 404 for unknown paths and 431 for oversized headers', async () => {
    const {url} = await start()
    expect(await curl([`${url}/nope`])).toEqual({status: 404, body: 'not found\n'})
    expect((await curl(['-H', `x-big: ${'a'.repeat(16_000)}`, `${url}/live`])).status).toBe(431)
  })

  it('answers 408 and closes a connection that never finishes its headers', async () => {
    await start()
    const {port} = admin!.address
    const answer = await new Promise<string>((resolve, reject) => {
      let got = ''
      const s = connect(port, '127.0.0.1', () => s.write('GET /live HTTP/1.1\r\nHost: x\r\n'))
      s.on('error', reject)
      s.on('data', (d: Buffer) => (got += d.toString()))
      s.on('close', () => resolve(got))
      setTimeout(() => reject(new Error('connection still open after 20 s')), 20_000).unref()
    })
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
  }, 25_000)

  it('refuses a taken port with the listen error', async () => {
    await start()
    await expect(start({listen: `127.0.0.1:${admin!.address.port}`})).rejects.toThrow(/EADDRINUSE/)
  })
})

describe('listen addresses and loopback', () => {
  it.each([
    ['0.0.0.0:4191', {host: '0.0.0.0', port: 4191}],
    ['[::]:4191', {host: '::', port: 4191}],
    ['localhost:0', {host: 'localhost', port: 0}],
  ])('parses %s', (s, expected) => {
    expect(parseListenAddr(s)).toEqual(expected)
  })

  it.each(['4191', ':4191', '1.2.3.4:70000', '[zz]:1', 'a:b'])('rejects %s with an example', (s) => {
    expect(() => parseListenAddr(s, 'admin listen address')).toThrow(/invalid admin listen address .*e\.g\. 0\.0\.0\.0:4191/)
  })

  it('knows loopback peers', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true)
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '', undefined, '128.0.0.1']) expect(isLoopback(a)).toBe(false)
  })
})
