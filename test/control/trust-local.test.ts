// The trust bundle over the destination connection, in local mode: the real controller
// (`startController({mode: 'local'})`) and a raw WebSocket client speaking watchTrust
// (src/protocol/trust.ts), as a proxy will. The steps of an anchor rotation, made as an operator
// makes them (files in the identity directory, renamed into place), reach the stream; a bundle
// that would strand the issuer is refused and never streamed; protocol errors are answered.
import {createHash, X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName} from '../../src/control/identity/index.js'
import {createLogger} from '../../src/control/logger.js'
import {TRUST_BUNDLE_VERSION, type TrustMessage} from '../../src/protocol/trust.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {eventually} from '../helpers/eventually.js'

let tmp: string
let dir: string
let controller: RunningController
let oldAnchorPem: string
let newAnchor: CaMaterial
const log: string[] = []

function put(name: string, content: string): void {
  writeFileSync(path.join(dir, name + '.tmp'), content)
  renameSync(path.join(dir, name + '.tmp'), path.join(dir, name))
}

async function socket(): Promise<{ws: WebSocket; messages: Array<Record<string, unknown>>}> {
  const ws = new WebSocket(`wss://127.0.0.1:${controller.ctx.destination!.port}/v1/destinations?ns=shop`, {ca: oldAnchorPem + newAnchor.certPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
  const messages: Array<Record<string, unknown>> = []
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {ws, messages}
}

const trustOf = (messages: Array<Record<string, unknown>>, id: number) => messages.filter((m) => m.id === id && m.type === 'trust') as unknown as TrustMessage[]

function latest(messages: Array<Record<string, unknown>>, id: number, pred: (m: TrustMessage) => boolean): Promise<TrustMessage> {
  return eventually(`a trust message on stream ${id}`, () => {
    const last = trustOf(messages, id).at(-1)
    return last && pred(last) ? last : undefined
  }, {intervalMs: 20})
}

const sha = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-trust-'))
  dir = path.join(tmp, 'ca')
  writeFileSync(path.join(tmp, 'registry.yaml'), 'services: []\n')
  controller = await startController({
    mode: 'local', identityDir: dir, registryFile: path.join(tmp, 'registry.yaml'), identityPort: 0, destinationPort: 0, tapPort: 0,
    log: createLogger({level: 'info', write: (l) => void log.push(l)}),
  })
  oldAnchorPem = readFileSync(path.join(dir, 'ca.crt'), 'utf8')
  newAnchor = await generateTrustAnchor({commonName: 'root-2.mesh.local'})
})
afterAll(async () => {
  await controller?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

describe('the trust bundle stream (local mode)', () => {
  it('follows a staged anchor rotation: both anchors, a new issuer (nothing sent), then the new anchor alone', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchTrust', id: 3, version: TRUST_BUNDLE_VERSION}))
    const first = await latest(messages, 3, () => true)
    expect(first).toMatchObject({type: 'trust', version: 1, anchors: [{sha256: sha(oldAnchorPem), subject: 'CN=root.mesh.local'}]})
    expect(first.anchorsPem).toBe(new X509Certificate(oldAnchorPem).toString())
    expect(first.revision).toMatch(/^[0-9a-f]{32}$/)

    // 1. Both anchors: the old one still validates the issuer, so the controller takes it.
    put('ca-bundle.crt', oldAnchorPem + newAnchor.certPem)
    const both = await latest(messages, 3, (m) => m.anchors.length === 2)
    expect(both.anchors.map((a) => a.sha256)).toEqual([sha(oldAnchorPem), sha(newAnchor.certPem)])
    expect(both.anchors[1]!.notAfter).toBe(new Date(new X509Certificate(newAnchor.certPem).validTo).toISOString())

    // 2. A new issuer signed by the new anchor: the issuer changes, the bundle does not, so nothing is sent.
    const issuer2 = await generateIssuer(newAnchor, {commonName: 'issuer-2'})
    const sentBefore = trustOf(messages, 3).length
    put('issuer.key', issuer2.keyPem)
    put('issuer.crt', issuer2.certPem)
    await eventually('the issuer-2 serving certificate', async () => ((await servingIssuerCn()) === 'issuer-2' ? true : undefined), {intervalMs: 50})
    expect(trustOf(messages, 3).length).toBe(sentBefore)

    // 3. The old anchor dropped: it no longer signs anything in use.
    put('ca-bundle.crt', newAnchor.certPem)
    const only = await latest(messages, 3, (m) => m.anchors.length === 1 && m.anchors[0]!.sha256 === sha(newAnchor.certPem))
    expect(only.revision).not.toBe(both.revision)
    ws.close()
  })

  it('a bundle that leaves out the issuer\'s anchor is refused: logged, never streamed', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchTrust', id: 1, version: 5}))
    const current = await latest(messages, 1, () => true)
    const refusedBefore = log.filter((l) => l.includes('issuer reload failed')).length
    const stranger = await generateTrustAnchor({commonName: 'stranger'})
    put('ca-bundle.crt', stranger.certPem)
    await eventually('the refusal to be logged', () => (log.filter((l) => l.includes('issuer reload failed')).length > refusedBefore ? true : undefined), {intervalMs: 20})
    expect(log.filter((l) => l.includes('issuer reload failed')).at(-1)).toContain('does not chain to the trust anchors')
    expect(trustOf(messages, 1).at(-1)!.revision).toBe(current.revision)
    put('ca-bundle.crt', newAnchor.certPem)
    ws.close()
  })

  it('answers protocol errors on the stream id and stops after unwatch', async () => {
    const {ws, messages} = await socket()
    ws.send(JSON.stringify({type: 'watchTrust', id: 9}))
    ws.send(JSON.stringify({type: 'watchTrust', id: 10, version: 0}))
    ws.send(JSON.stringify({type: 'watchTrust', id: 11, version: 1}))
    ws.send(JSON.stringify({type: 'watchTrust', id: 11, version: 1}))
    await eventually('the answers', () => (messages.filter((m) => m.type === 'error').length >= 3 && trustOf(messages, 11).length === 1 ? true : undefined), {intervalMs: 20})
    const errors = messages.filter((m) => m.type === 'error')
    expect(errors.map((e) => [e.id, e.code])).toEqual([[9, 'BAD_REQUEST'], [10, 'BAD_REQUEST'], [11, 'BAD_REQUEST']])
    expect(String(errors[0]!.message)).toContain('highest trust bundle version')
    expect(String(errors[2]!.message)).toContain('stream 11 is open already')
    ws.send(JSON.stringify({type: 'unwatch', id: 11}))
    // An endpoint stream on the same connection answers after the unwatch was read, so the unwatch took effect first.
    ws.send(JSON.stringify({type: 'watch', id: 12, authority: 'nothing.shop.svc.cluster.local:80'}))
    await eventually('the endpoint answer', () => (messages.some((m) => m.id === 12) ? true : undefined), {intervalMs: 20})
    const sent = trustOf(messages, 11).length
    put('ca-bundle.crt', oldAnchorPem + newAnchor.certPem)
    // A second stream sees the reload; the unwatched one does not.
    ws.send(JSON.stringify({type: 'watchTrust', id: 13, version: 1}))
    await latest(messages, 13, (m) => m.anchors.length === 2)
    expect(trustOf(messages, 11).length).toBe(sent)
    ws.close()
  })
})

/** The CN of the issuer of the destination service's serving certificate (what a proxy verifies). */
async function servingIssuerCn(): Promise<string | undefined> {
  const tls = await import('node:tls')
  return new Promise((resolve) => {
    const s = tls.connect({host: '127.0.0.1', port: controller.ctx.destination!.port, rejectUnauthorized: false, servername: controllerIdentityName()}, () => {
      const cn = s.getPeerCertificate().issuer?.CN
      s.destroy()
      resolve(Array.isArray(cn) ? cn[0] : cn)
    })
    s.on('error', () => resolve(undefined))
  })
}
