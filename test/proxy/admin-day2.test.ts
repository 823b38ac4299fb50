// The admin server's day-two endpoints on a real sidecar (`mesh proxy` as a process, certified by
// the real controller in local mode): GET /identity (what the proxy presents, byte for byte what
// a TLS client to its inbound port receives; the anchors it trusts; never a private key), and
// timed log levels (PUT /proxy-log-level?for=<seconds>) that revert by themselves with no client
// connected. Item 1 and 3 of docs/architecture/diagnostics.md, "What a proxy must do".
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {trustBundle} from '../../src/control/identity/trust-stream.js'
import {parseIdentityReport} from '../../src/diagnostics/identity-report.js'
import {LOG_LEVEL_MAX_SECONDS, LOG_LEVEL_UNTIL_HEADER} from '../../src/protocol/proxy-admin.js'
import {ProxyEnv} from '../../src/protocol/proxy-env.js'
import {parseCertificates} from '../../src/tls/index.js'
import {sha256Hex} from '../../src/tls/anchor-info.js'
import {eventually} from '../helpers/eventually.js'
import {closeServer, startEchoApp, type EchoApp} from './helpers.js'
import {startLocalMesh, type LocalMesh, type MeshSidecar} from './local-mesh.js'

const run = promisify(execFile)
let mesh: LocalMesh
let app: EchoApp
let db: MeshSidecar
let keyDir: string

beforeAll(async () => {
  mesh = await startLocalMesh()
  app = await startEchoApp()
  keyDir = path.join(mesh.dir, 'db-identity')
  db = await mesh.sidecar('db', app.port, {[ProxyEnv.IDENTITY_DIR]: keyDir})
  await eventually('db to be certified', async () => ((await db.identityReport()).state === 'ready' ? true : undefined), {intervalMs: 100})
}, 60_000)

afterAll(async () => {
  await mesh?.stop()
  await closeServer(app?.server)
})

/** Every certificate `openssl s_client` receives from the proxy's inbound port, as PEM. */
async function presented(port: number, servername: string): Promise<string[]> {
  const child = run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-showcerts'], {timeout: 20_000})
  // s_client reads stdin until it ends, then closes the connection.
  child.child.stdin?.end()
  const {stdout} = await child.catch((e: {stdout?: string}) => ({stdout: e.stdout ?? ''}))
  return [...stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)].map((m) => m[0])
}

describe('GET /identity', () => {
  it('reports the chain the inbound port presents (what openssl s_client receives), the anchors, and the stream\'s revision', async () => {
    const res = await db.admin('/identity')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    const report = parseIdentityReport(res.body)
    expect(report).toMatchObject({version: 1, identity: db.identity, state: 'ready'})
    expect(report.certified).toBeGreaterThanOrEqual(1)
    expect(report.failures).toBe(0)
    const received = await presented(db.ports.inbound, db.identity)
    expect(received.length).toBe(2)
    expect(report.certificate!.chainPem).toBe(received.join(''))
    const [leaf, issuer] = parseCertificates(report.certificate!.chainPem)
    expect(report.certificate).toMatchObject({
      serial: leaf!.serialNumber.toLowerCase(), sha256: sha256Hex(leaf!),
      notBefore: new Date(leaf!.validFrom).toISOString(), notAfter: new Date(leaf!.validTo).toISOString(),
    })
    expect(issuer!.subject).toBe('CN=issuer-a')
    const anchor = parseCertificates(mesh.anchor.certPem)[0]!
    expect(report.trustAnchors).toEqual([{sha256: sha256Hex(anchor), subject: 'CN=root-a.mesh.test', notAfter: new Date(anchor.validTo).toISOString()}])
    // The destination service streams the anchors as soon as the proxy connects; the same ones: applied, nothing changed.
    await eventually('the trust bundle revision', async () => ((await db.identityReport()).trustBundleRevision === trustBundle([anchor]).revision ? true : undefined), {intervalMs: 100})
    expect(new Date(report.nextRenewal!).getTime()).toBeGreaterThan(Date.now() - 1000)
  })

  it('never carries a private key, even when the key is kept in the identity directory', async () => {
    const key = readFileSync(path.join(keyDir, 'key.pem'), 'utf8')
    const body = (await db.admin('/identity')).body
    expect(body).not.toMatch(/PRIVATE KEY/)
    for (const line of key.split('\n').filter((l) => l.length > 40)) expect(body).not.toContain(line)
  })

  it('is read-only (405 for writes) and answers HEAD without a body', async () => {
    const post = await db.admin('/identity', {method: 'POST', body: '{}'})
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD')
    const head = await db.admin('/identity', {method: 'HEAD'})
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
  })

  it('says pending (and why) before the first certificate, and disabled without identity', async () => {
    // The identity service address points at a port nothing listens on: certify fails and retries.
    const pending = await mesh.sidecar('late', app.port, {[ProxyEnv.IDENTITY_ADDR]: 'https://127.0.0.1:1'})
    const r = await eventually('a failed certify', async () => {
      const x = parseIdentityReport((await pending.admin('/identity')).body)
      return x.failures > 0 ? x : undefined
    }, {intervalMs: 100})
    expect(r).toMatchObject({state: 'pending', identity: pending.identity, certified: 0})
    expect(r.certificate).toBeUndefined()
    expect(r.lastError).toContain('cannot reach the identity service')
    expect(r.trustAnchors.length).toBe(1)
    await pending.kill()
    const plain = await mesh.sidecar('plain', app.port, {[ProxyEnv.IDENTITY_DISABLED]: '1'})
    expect(parseIdentityReport((await plain.admin('/identity')).body)).toEqual({version: 1, state: 'disabled', trustAnchors: [], certified: 0, failures: 0})
    await plain.kill()
  })
})

describe('timed log levels: PUT /proxy-log-level?for=<seconds>', () => {
  const level = async (): Promise<string> => (await db.admin('/proxy-log-level')).body.trim()
  const put = (body: string, query = '') => db.admin(`/proxy-log-level${query}`, {method: 'PUT', body})

  it('sets the level, answers 200 with the time it ends, and puts the previous level back by itself', async () => {
    expect(await level()).toBe('info')
    const before = Date.now()
    const r = await put('debug', '?for=1')
    expect(r.status).toBe(200)
    const until = Date.parse(String(r.headers[LOG_LEVEL_UNTIL_HEADER]))
    expect(until).toBeGreaterThanOrEqual(before + 1000 - 50)
    expect(await level()).toBe('debug')
    // No client stays connected: the proxy reverts on its own.
    await eventually('the level to be put back', async () => ((await level()) === 'info' ? true : undefined), {intervalMs: 100})
    await eventually('the revert to be logged', () => (/timed log level over: put back level=info was=debug/.test(db.stderr()) ? true : undefined), {intervalMs: 100})
  })

  it('a second timed PUT extends and keeps what to put back; an untimed PUT cancels the timer', async () => {
    expect((await put('debug', '?for=1')).status).toBe(200)
    const second = await put('trace', '?for=3600')
    expect(second.status).toBe(200)
    expect(await level()).toBe('trace')
    // The second timer replaced the first: the proxy's one pending end is the second's (the
    // first never fires: test/proxy-admin/day2-units.test.ts, on a fake clock).
    const get = await db.admin('/proxy-log-level')
    expect([get.body.trim(), get.headers[LOG_LEVEL_UNTIL_HEADER]]).toEqual(['trace', second.headers[LOG_LEVEL_UNTIL_HEADER]])
    const plain = await put('warn')
    expect(plain.status).toBe(204)
    expect(plain.headers[LOG_LEVEL_UNTIL_HEADER]).toBeUndefined()
    expect(await level()).toBe('warn')
    // A short chain now: it puts back warn (the untimed level), not info.
    expect((await put('debug', '?for=1')).status).toBe(200)
    await eventually('warn to be put back', async () => ((await level()) === 'warn' ? true : undefined), {intervalMs: 100})
    expect((await put('info')).status).toBe(204)
  })

  it.each([
    ['?for=0'], [`?for=${LOG_LEVEL_MAX_SECONDS + 1}`], ['?for=abc'], ['?for='], ['?for=1.5'], ['?for=-1'], ['?for=1e3'], ['?for=%201'], ['?for=1&for=2'], [`?for=${'9'.repeat(400)}`],
  ])('%s is 400 naming the parameter, and changes nothing', async (query) => {
    const r = await put('trace', query)
    expect(r.status).toBe(400)
    expect(r.body).toContain('"for"')
    expect(await level()).toBe('info')
  })

  it('a bad level with a good duration is 400 and starts no timer', async () => {
    const r = await put('loud', '?for=1')
    expect(r.status).toBe(400)
    expect(r.body).toContain('invalid log level "loud"')
    expect(await level()).toBe('info')
    expect(db.stderr()).not.toMatch(/was=loud/)
  })

  it('accepts the longest duration', async () => {
    const r = await put('debug', `?for=${LOG_LEVEL_MAX_SECONDS}`)
    expect(r.status).toBe(200)
    expect(Date.parse(String(r.headers[LOG_LEVEL_UNTIL_HEADER]))).toBeGreaterThan(Date.now() + (LOG_LEVEL_MAX_SECONDS - 60) * 1000)
    expect((await put('info')).status).toBe(204)
  })
})
