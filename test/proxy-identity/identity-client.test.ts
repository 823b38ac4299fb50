// The proxy's identity client against a real local identity service (HTTPS on 127.0.0.1):
// certify, mTLS between two proxies' contexts with peer checks, renewal, backoff, key file mode.
import {mkdtempSync, rmSync, statSync, writeFileSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import net from 'node:net'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {ensureLocalIdentityDir, FileIssuerSource, issueLocalToken, LocalTokenValidator, startIdentityService, type IdentityService, type LocalIdentityDir} from '../../src/control/identity/index.js'
import {startIdentity, KEY_FILE, CERT_FILE, type ProxyIdentity, type ProxyIdentityConfig} from '../../src/proxy/identity/index.js'
import {silentLogger} from '../../src/control/logger.js'

const WEB = identityName('web', 'shop')
const DB = identityName('db', 'shop')
let tmp: string
let local: LocalIdentityDir
let svc: IdentityService
const started: ProxyIdentity[] = []

async function startService(port = 0, leafLifetimeMs?: number): Promise<IdentityService> {
  return startIdentityService({issuer: new FileIssuerSource(local.dir, silentLogger, 0), validator: new LocalTokenValidator(local.tokenSecret), host: '127.0.0.1', port, leafLifetimeMs, log: silentLogger})
}

function config(sa: string, port: number, extra: Partial<ProxyIdentityConfig> = {}): ProxyIdentityConfig {
  const tokenFile = path.join(tmp, `${sa}.token`)
  writeFileSync(tokenFile, issueLocalToken(sa, 'shop', local.tokenSecret))
  return {
    localName: identityName(sa, 'shop'),
    identityAddr: `https://127.0.0.1:${port}`,
    identityServiceName: svc.serviceName,
    tokenFile,
    trustAnchorsPem: local.anchorsPem,
    ...extra,
  }
}

async function identity(sa: string, port: number, extra: Partial<ProxyIdentityConfig> = {}): Promise<ProxyIdentity> {
  const id = await startIdentity(config(sa, port, extra))
  started.push(id)
  return id
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-pid-'))
  local = await ensureLocalIdentityDir(path.join(tmp, 'ca'))
  svc = await startService()
})
afterAll(async () => {
  for (const id of started) id.close()
  await svc?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

/** A TLS server with `server` identity; a client with `client` identity connects; each side checks the other. */
async function handshake(server: ProxyIdentity, client: ProxyIdentity, expectServer: string, expectClient: string): Promise<{clientErr?: string; serverErr?: string; serverSaw?: string}> {
  let serverErr: string | undefined
  let serverSaw: string | undefined
  const srv = tls.createServer({SNICallback: (_n, cb) => cb(null, server.serverContext()!), requestCert: true, rejectUnauthorized: false}, (s) => {
    const cert = s.getPeerCertificate(true)
    serverSaw = server.peerName(cert)
    serverErr = server.verifyPeer(cert, expectClient)?.message
    s.end('hi')
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  try {
    const port = (srv.address() as AddressInfo).port
    const clientErr = await new Promise<string | undefined>((resolve, reject) => {
      const s = tls.connect({host: '127.0.0.1', port, servername: 'x', secureContext: client.clientContext(), rejectUnauthorized: false}, () => {
        const err = client.verifyPeer(s.getPeerCertificate(true), expectServer)
        s.on('data', () => {})
        s.on('end', () => resolve(err?.message))
        s.on('close', () => resolve(err?.message))
      })
      s.on('error', reject)
    })
    return {clientErr, serverErr, serverSaw}
  } finally {
    srv.close()
  }
}

describe('proxy identity client (local mode)', () => {
  it('gets a certificate, keeps its key in the identity dir with mode 0600, and does mTLS with a peer', async () => {
    const dir = path.join(tmp, 'web-dir')
    const web = await identity('web', svc.port, {dir})
    const db = await identity('db', svc.port)
    await Promise.all([web.ready(), db.ready()])
    expect(web.status()).toMatchObject({state: 'ready', certified: 1, failures: 0})
    expect(statSync(path.join(dir, KEY_FILE)).mode & 0o777).toBe(0o600)
    expect(readFileSync(path.join(dir, CERT_FILE), 'utf8')).toContain('BEGIN CERTIFICATE')
    const r = await handshake(db, web, DB, WEB)
    expect(r).toEqual({clientErr: undefined, serverErr: undefined, serverSaw: WEB})
    // Wrong expectations are refused on both sides, naming who the peer really is.
    const wrong = await handshake(db, web, identityName('payments', 'shop'), identityName('admin', 'shop'))
    expect(wrong.clientErr).toMatch(new RegExp(`the peer is ${DB.replace(/\./g, '\\.')}, not the expected`))
    expect(wrong.serverErr).toMatch(/the peer is web\.shop/)
  })

  it('a peer from another trust root is refused', async () => {
    const other = await ensureLocalIdentityDir(path.join(tmp, 'other-ca'))
    const otherSvc = await startIdentityService({issuer: new FileIssuerSource(other.dir, silentLogger, 0), validator: new LocalTokenValidator(other.tokenSecret), host: '127.0.0.1', port: 0, log: silentLogger})
    try {
      const tokenFile = path.join(tmp, 'evil.token')
      writeFileSync(tokenFile, issueLocalToken('web', 'shop', other.tokenSecret))
      const impostor = await startIdentity({localName: WEB, identityAddr: `https://127.0.0.1:${otherSvc.port}`, identityServiceName: otherSvc.serviceName, tokenFile, trustAnchorsPem: other.anchorsPem})
      started.push(impostor)
      await impostor.ready()
      const db = await identity('db', svc.port)
      await db.ready()
      const r = await handshake(db, impostor, DB, WEB)
      expect(r.serverErr).toMatch(/does not chain to the trust anchors/)
      expect(r.serverSaw).toBe(WEB)
    } finally {
      await otherSvc.stop()
    }
  })

  it('retries with backoff until the identity service is up, then becomes ready', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port
        s.close(() => resolve(p))
      })
    })
    const id = await identity('late', port, {backoff: {minMs: 50, maxMs: 200}})
    await eventually('a few failed attempts', () => (id.status().failures > 1 ? true : undefined), {intervalMs: 20})
    expect(id.status().state).toBe('pending')
    expect(id.status().lastError).toMatch(/cannot reach the identity service/)
    const late = await startService(port)
    try {
      await id.ready()
      expect(id.status().state).toBe('ready')
    } finally {
      await late.stop()
    }
  })

  it('renews at 70 % of the lifetime and new handshakes use the new certificate while old connections stay up', async () => {
    const short = await startService(0, 6000)
    try {
      const web = await identity('web', short.port, {identityServiceName: short.serviceName})
      const db = await identity('db', short.port, {identityServiceName: short.serviceName})
      await Promise.all([web.ready(), db.ready()])
      const first = web.status().validUntil
      const scheduled = new Date(web.status().nextRenewal!).getTime()
      // A connection opened with the first certificate, kept open across the renewal.
      const srv = tls.createServer({SNICallback: (_n, cb) => cb(null, db.serverContext()!), requestCert: true, rejectUnauthorized: false}, (s) => s.pipe(s))
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
      const sock = tls.connect({host: '127.0.0.1', servername: 'db', port: (srv.address() as AddressInfo).port, secureContext: web.clientContext(), rejectUnauthorized: false})
      await new Promise((r) => sock.once('secureConnect', r))
      const renewed = new Promise<void>((r) => web.onRenew(r))
      await renewed
      // Renewal scheduled at 70 % of the remaining life: within the last 30 % (1.8 s) of the
      // first certificate, and not done before it was due (no bound on how fast it ran).
      const firstEnd = new Date(first!).getTime()
      expect(scheduled).toBeGreaterThan(firstEnd - 6000 * 0.3 - 1000)
      expect(scheduled).toBeLessThan(firstEnd)
      expect(Date.now()).toBeGreaterThanOrEqual(scheduled - 50) // timers may run a millisecond early
      expect(web.status().validUntil).not.toBe(first)
      expect(web.status().certified).toBeGreaterThanOrEqual(2)
      const echo = await new Promise<string>((resolve) => {
        sock.once('data', (d: Buffer) => resolve(d.toString()))
        sock.write('still here')
      })
      expect(echo).toBe('still here')
      sock.destroy()
      srv.close()
      const r = await handshake(db, web, DB, WEB)
      expect(r).toEqual({clientErr: undefined, serverErr: undefined, serverSaw: WEB})
    } finally {
      await short.stop()
    }
  })
})
