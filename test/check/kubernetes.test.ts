// kubernetes-api and kubernetes-version against an HTTP server on 127.0.0.1 that answers
// /version like an API server, with the version and Date header each test picks. (The real
// API server's passing case is in test/integration/check.test.ts.)
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {kubernetesApi, kubernetesVersion, parseServerVersion} from '../../src/check/categories/kubernetes.js'
import {createContext} from '../../src/check/context.js'
import {runChecks} from '../../src/check/runner.js'

let server: Server
let kubeconfig: string
const answer = {status: 200, gitVersion: 'v1.34.4', dateOffsetMs: 0, date: true}
const seen: string[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`)
    const headers: Record<string, string> = {'content-type': 'application/json'}
    res.sendDate = answer.date
    if (answer.date) headers.date = new Date(Date.now() + answer.dateOffsetMs).toUTCString()
    res.writeHead(answer.status, headers)
    res.end(JSON.stringify({major: '1', minor: '34', gitVersion: answer.gitVersion}))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const dir = mkdtempSync(join(tmpdir(), 'mesh-check-'))
  kubeconfig = join(dir, 'kubeconfig')
  const port = (server.address() as AddressInfo).port
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'c', cluster: {server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true}}],
      users: [{name: 'u', user: {token: 'secret-token'}}],
      contexts: [{name: 'x', context: {cluster: 'c', user: 'u'}}],
      'current-context': 'x',
    }),
  )
})

afterAll(() => new Promise<void>((r) => server.close(() => r())))

async function run(over: Partial<typeof answer> = {}) {
  Object.assign(answer, {status: 200, gitVersion: 'v1.34.4', dateOffsetMs: 0, date: true}, over)
  const report = await runChecks([kubernetesApi(), kubernetesVersion()], createContext({kubeconfig}))
  return Object.fromEntries(report.categories.flatMap((c) => c.checks).map((k) => [k.id, `${k.result}${k.error ? `: ${k.error}` : ''}`]))
}

describe('kubernetes-api and kubernetes-version', () => {
  it('pass against a current API server with a synchronised clock, sending the kubeconfig credentials', async () => {
    seen.length = 0
    expect(await run()).toEqual({MESH1001: 'success', MESH1002: 'success', MESH1003: 'success', MESH1004: 'success'})
    expect(seen).toContain('GET /version Bearer secret-token')
  })

  it('an API server older than 1.29 fails the version check', async () => {
    expect((await run({gitVersion: 'v1.27.3'})).MESH1003).toBe('error: the API server runs v1.27.3; mesh needs 1.29 or newer')
    expect((await run({gitVersion: 'v1.29.0-eks-1'})).MESH1003).toBe('success')
  })

  it('a clock 10 minutes off is a warning naming the direction; 2 minutes is fine', async () => {
    expect((await run({dateOffsetMs: 10 * 60_000})).MESH1004).toBe("warning: this machine's clock is 10m behind the API server's (more than 5m)")
    expect((await run({dateOffsetMs: -10 * 60_000})).MESH1004).toBe("warning: this machine's clock is 10m ahead of the API server's (more than 5m)")
    expect((await run({dateOffsetMs: 2 * 60_000})).MESH1004).toBe('success')
  })

  it('refused credentials fail the fatal API check, and nothing after it runs', async () => {
    const r = await run({status: 401})
    expect(r).toEqual({MESH1001: 'success', MESH1002: expect.stringMatching(/^error: the API server at http:\/\/127\.0\.0\.1:\d+ refused the credentials \(401\)$/)})
  })

  it('an unreachable server fails the API check with the address', async () => {
    const dead = join(mkdtempSync(join(tmpdir(), 'mesh-check-')), 'kubeconfig')
    writeFileSync(
      dead,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{name: 'c', cluster: {server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true}}],
        users: [{name: 'u', user: {token: 't'}}],
        contexts: [{name: 'x', context: {cluster: 'c', user: 'u'}}],
        'current-context': 'x',
      }),
    )
    const report = await runChecks([kubernetesApi()], createContext({kubeconfig: dead}))
    expect(report.categories[0]!.checks[1]!.error).toMatch(/^cannot reach the API server at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/)
  })

  it('parseServerVersion reads gitVersion, else major/minor', () => {
    expect(parseServerVersion('{"gitVersion":"v1.30.2"}')).toEqual({gitVersion: 'v1.30.2', major: 1, minor: 30})
    expect(parseServerVersion('{"major":"1","minor":"31+"}')).toEqual({gitVersion: 'v1.31', major: 1, minor: 31})
    expect(() => parseServerVersion('<html>')).toThrow('not JSON')
  })
})
