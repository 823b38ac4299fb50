// `mesh check --proxy --local-state FILE`: the command end to end against proxies running on
// 127.0.0.1 (real admin servers and TLS listeners), as a `mesh demo` would describe them.
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseLocalState} from '../../src/check/data-plane/local-state.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {runMesh} from '../helpers/run.js'
import {startLocalProxy, startRealProxy, unfinishedHandshake} from './local-proxies.js'
import {schemaProblems} from './schema.js'

const closers: Array<() => Promise<void>> = []
const dir = mkdtempSync(join(tmpdir(), 'mesh-check-state-'))
let anchor: CaMaterial
let issuer: CaMaterial
let apiReady = true
let stateFile: string

beforeAll(async () => {
  anchor = await generateTrustAnchor()
  issuer = await generateIssuer(anchor)
  const proxies = [await startLocalProxy('web', {signer: issuer}, closers), await startLocalProxy('api', {signer: issuer, ready: () => apiReady}, closers)]
  stateFile = join(dir, 'state.json')
  writeFileSync(stateFile, JSON.stringify({version: '0.1.0', trustAnchorsPem: anchor.certPem, issuerPem: issuer.certPem, proxies}))
}, 60_000)

afterAll(async () => {
  for (const c of closers.splice(0)) await c()
})

describe('mesh check --proxy --local-state', () => {
  it('passes against healthy local proxies: exit 0, only the data plane category, no cluster needed', async () => {
    apiReady = true
    const r = await runMesh(['check', '--proxy', '--local-state', stateFile, '-o', 'json', '--expected-version', '0.1.0', '--kubeconfig', '/nonexistent'])
    const doc = JSON.parse(r.stdout) as {success: boolean; categories: Array<{categoryName: string; checks: Array<{id: string; result: string}>}>}
    expect(schemaProblems(doc)).toEqual([])
    expect(doc.categories.map((c) => c.categoryName)).toEqual(['mesh-data-plane'])
    expect(doc.categories[0]!.checks.map((c) => `${c.id}:${c.result}`)).toEqual(['MESH3001:success', 'MESH3002:success', 'MESH3003:success', 'MESH3004:success', 'MESH3005:success'])
    expect(r.exitCode).toBe(0)
  })

  it('fails when a proxy stops being ready: exit 1, the table names it', async () => {
    apiReady = false
    const r = await runMesh(['check', '--local-state', stateFile])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain('× data plane proxies are ready\n    1 of 2 proxies not ready: demo/api: /ready answered 503 (not ready)\n')
    expect(r.stdout.endsWith('Status check results are ×\n')).toBe(true)
  })

  it('a real proxy that closed an mTLS handshake its client did not finish: a warning naming it, in the table and in -o json (exit 0)', async () => {
    const db = await startRealProxy('db', {signer: issuer, anchorPem: anchor.certPem}, closers)
    const file = join(dir, 'handshake.json')
    writeFileSync(file, JSON.stringify({version: '0.1.0', trustAnchorsPem: anchor.certPem, issuerPem: issuer.certPem, proxies: [db.local]}))
    await unfinishedHandshake(db)
    const warned = '1 of 1 proxies closed unfinished mTLS handshakes: demo/db: 1 inbound mTLS handshake did not finish (tls_handshake)'
    const r = await runMesh(['check', '--proxy', '--local-state', file, '-o', 'json', '--expected-version', '0.1.0', '--kubeconfig', '/nonexistent'])
    const doc = JSON.parse(r.stdout) as {success: boolean; categories: Array<{checks: Array<{id: string; result: string; error: string; hint: string}>}>}
    expect(schemaProblems(doc)).toEqual([])
    const check = doc.categories[0]!.checks.find((c) => c.id === 'MESH3005')!
    expect(check).toMatchObject({result: 'warning', error: warned})
    expect(check.hint).toContain('mesh explain <client> svc/<server>')
    expect(doc.success).toBe(true)
    expect(r.exitCode).toBe(0)
    const table = await runMesh(['check', '--proxy', '--local-state', file, '--expected-version', '0.1.0', '--kubeconfig', '/nonexistent'])
    expect(table.stdout).toContain(`‼ no proxy closed inbound mTLS handshakes that did not finish\n    ${warned}\n`)
    expect(table.exitCode).toBe(0)
  })

  it('--local-state with --pre is a usage error', async () => {
    const r = await runMesh(['check', '--pre', '--local-state', stateFile])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('--pre and --proxy cannot be used together')
  })

  it('a missing or malformed state file exits 1 naming it, with nothing on stdout', async () => {
    const missing = await runMesh(['check', '--proxy', '--local-state', join(dir, 'nope.json')])
    expect(missing.exitCode).toBe(1)
    expect(missing.stdout).toBe('')
    expect(missing.stderr).toContain(`${join(dir, 'nope.json')}: no such file`)
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{"version": "0.1.0", "proxies": [')
    const r = await runMesh(['check', '--proxy', '--local-state', broken])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/broken\.json: not valid JSON/)
  })
})

describe('parseLocalState', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n'
  const state = (proxies: unknown[]) => JSON.stringify({version: '1', trustAnchorsPem: pem, proxies})

  it('accepts loopback proxies only', () => {
    expect(parseLocalState(state([{name: 'a', adminUrl: 'http://127.0.0.1:4191/', inbound: {host: '127.0.0.1', port: 4143}}]), 'f').proxies).toEqual([
      {name: 'a', adminUrl: 'http://127.0.0.1:4191', inbound: {host: '127.0.0.1', port: 4143}},
    ])
    expect(() => parseLocalState(state([{name: 'a', adminUrl: 'http://10.0.0.1:4191'}]), 'f')).toThrow('f: proxies[0].adminUrl must be http:// on a loopback address')
    expect(() => parseLocalState(state([{name: 'a', adminUrl: 'http://127.0.0.1:1', inbound: {host: '8.8.8.8', port: 1}}]), 'f')).toThrow('proxies[0].inbound must be')
    expect(() => parseLocalState(state([{adminUrl: 'http://127.0.0.1:1'}]), 'f')).toThrow('proxies[0].name must be a non-empty string')
    expect(() => parseLocalState(JSON.stringify({version: '1', trustAnchorsPem: 'x', proxies: []}), 'f')).toThrow('"trustAnchorsPem" must hold PEM certificates')
  })
})
