// Tap shows no credentials: credential headers by name and by the words in their names, and every
// query value (keys kept), checked on generated inputs and end to end: curl through a real proxy
// whose tap server a WebSocket subscriber watches.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import WebSocket from 'ws'
import {startProxy, type RunningProxy} from '../../src/proxy/server.js'
import {isCredentialHeader, REDACTED_VALUE, tapHeaders, tapPath} from '../../src/proxy/tap/redact.js'
import {startTapServer, TapHub, type TapServer} from '../../src/proxy/tap/index.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, quietLog, startEchoApp, testConfig, type EchoApp} from '../proxy/helpers.js'

const exec = promisify(execFile)

describe('tap redaction', () => {
  it('redacts credential headers, by name and by the words in the name', () => {
    const credentials = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token', 'x-vault-token',
      'x-amz-security-token', 'x-goog-api-key', 'x-session-id', 'x-csrftoken', 'x-xsrf-token', 'x-hub-signature-256', 'x-client-secret',
      'x-db-password', 'private-token', 'x-apikey', 'jwt', 'x-access-token', 'api_key', 'grpc-metadata-token']
    for (const name of credentials) expect(isCredentialHeader(name), name).toBe(true)
    const plain = [':authority', 'host', 'user-agent', 'accept', 'keep-alive', 'x-request-id', 'content-type', 'x-forwarded-for', 'monkey', 'x-keyboard', 'grpc-timeout', 'traceparent']
    for (const name of plain) expect(isCredentialHeader(name), name).toBe(false)
    expect(tapHeaders({'X-Vault-Token': 's.abc', Accept: ['a', 'b'], Cookie: 'c=1'})).toEqual({'x-vault-token': REDACTED_VALUE, accept: 'a, b', cookie: REDACTED_VALUE})
  })

  it('redacts every query value and keeps the keys', () => {
    expect(tapPath('/api/v1/items')).toBe('/api/v1/items')
    expect(tapPath('/a?token=abc&user=bob')).toBe(`/a?token=${REDACTED_VALUE}&user=${REDACTED_VALUE}`)
    expect(tapPath('/a?flag&x=1;y=2')).toBe(`/a?flag&x=${REDACTED_VALUE};y=${REDACTED_VALUE}`)
    expect(tapPath('/a?x=1=2#frag')).toBe(`/a?x=${REDACTED_VALUE}`)
    expect(tapPath('/a?')).toBe('/a?')
    expect(tapPath('/a#secret')).toBe('/a')
  })

  it('leaves no query value in what it shows (generated paths)', () => {
    const word = fc.stringMatching(/^[a-z0-9_%.-]{1,10}$/)
    const value = fc.stringMatching(/^[A-Za-z0-9%+/=._-]{1,16}$/).map((v) => `V${v}`)
    const pair = fc.tuple(word, fc.option(value)).map(([k, v]) => (v === null ? k : `${k}=${v}`))
    const path = fc.tuple(fc.stringMatching(/^\/[a-z0-9/]{0,12}$/), fc.array(pair, {minLength: 1, maxLength: 6})).map(([p, q]) => `${p}?${q.join('&')}`)
    fc.assert(fc.property(path, (p) => {
      const shown = tapPath(p)
      const query = p.slice(p.indexOf('?') + 1).split('&')
      const kept = shown.slice(shown.indexOf('?') + 1).split('&')
      expect(kept.map((x) => x.split('=')[0])).toEqual(query.map((x) => x.split('=')[0]))
      for (const q of query) if (q.includes('=')) expect(shown).not.toContain(q.slice(q.indexOf('=') + 1))
    }), {numRuns: 2000})
  })
})

describe('tap redaction end to end', () => {
  let app: EchoApp
  let proxy: RunningProxy
  let tap: TapServer
  const hub = new TapHub()

  beforeAll(async () => {
    app = await startEchoApp()
    proxy = await startProxy(testConfig({inboundForward: {host: '127.0.0.1', port: app.port}}), {log: quietLog(), originalDst: null, observers: [hub]})
    tap = await startTapServer({listen: '127.0.0.1:0', hub})
  })
  afterAll(async () => {
    await proxy?.close(100)
    await tap?.close()
    await closeServer(app?.server)
  })

  it('a subscriber sees the request with its credentials and query values redacted; the app got them all', async () => {
    const ws = new WebSocket(tap.url)
    const events: Record<string, unknown>[] = []
    ws.on('message', (d) => events.push(JSON.parse(String(d)) as Record<string, unknown>))
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    await eventually('the subscription', () => (hub.subscriberCount === 1 ? true : undefined), 5000)
    try {
      const {stdout} = await exec('curl', ['-sS', '--max-time', '5', '-H', 'Host: web.local', '-H', 'X-Vault-Token: s.hunter2', '-H', 'X-Amz-Security-Token: FwoGZX',
        '-H', 'Authorization: Bearer eyJ', '-H', 'X-Trace: visible', `http://127.0.0.1:${proxy.ports.inbound}/login?password=hunter2&next=/home`])
      const seen = JSON.parse(stdout) as {url: string, headers: Record<string, string>}
      expect(seen.url).toBe('/login?password=hunter2&next=/home')
      expect(seen.headers['x-vault-token']).toBe('s.hunter2')
      const init = await eventually('the requestInit event', () => events.find((e) => e.type === 'requestInit'), 5000) as {path: string, headers: Record<string, string>}
      expect(init.path).toBe(`/login?password=${REDACTED_VALUE}&next=${REDACTED_VALUE}`)
      expect(init.headers).toMatchObject({'x-vault-token': REDACTED_VALUE, 'x-amz-security-token': REDACTED_VALUE, authorization: REDACTED_VALUE, 'x-trace': 'visible'})
      expect(JSON.stringify(events)).not.toMatch(/hunter2|FwoGZX|eyJ/)
    } finally {
      ws.terminate()
    }
  })
})
