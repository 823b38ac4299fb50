import {describe, expect, it} from 'vitest'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runMesh, spawnMesh} from '../helpers/run.js'
import {meshVersion} from '../../src/lib/version.js'

describe('mesh version (in process)', () => {
  // No cluster here: a kubeconfig that does not exist (the server version is read in the
  // cluster suites, test/integration/install.test.ts).
  const NO_CLUSTER = ['--kubeconfig', '/nonexistent/mesh-kubeconfig']

  it('prints the client version, and the server version as unavailable with the reason on stderr', async () => {
    const r = await runMesh(['version', ...NO_CLUSTER])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(`Client version: ${meshVersion()}\nServer version: unavailable\n`)
    expect(r.stderr).toBe('‼ server version unavailable: no kubeconfig at /nonexistent/mesh-kubeconfig\n')
  })

  it('--client prints the client version only and does not look for a cluster', async () => {
    const r = await runMesh(['version', '--client', ...NO_CLUSTER])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(`Client version: ${meshVersion()}\n`)
    expect(r.stderr).toBe('')
  })

  it('--short prints the bare versions', async () => {
    expect((await runMesh(['version', '--short', '--client'])).stdout).toBe(`${meshVersion()}\n`)
    expect((await runMesh(['version', '--short', ...NO_CLUSTER])).stdout).toBe(`${meshVersion()}\nunavailable\n`)
  })

  it('-o json prints a JSON document with the versions', async () => {
    const r = await runMesh(['version', '-o', 'json', ...NO_CLUSTER])
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({client: meshVersion(), server: null, serverUnavailable: 'no kubeconfig at /nonexistent/mesh-kubeconfig'})
    expect(JSON.parse((await runMesh(['version', '-o', 'json', '--client'])).stdout)).toEqual({client: meshVersion()})
  })

  it('names the server whose answer is not an API server\'s (200 with HTML), still exit 0', async () => {
    const server = http.createServer((_req, res) => res.writeHead(200, {'content-type': 'text/html'}).end('<html>login</html>'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const dir = mkdtempSync(join(tmpdir(), 'mesh-version-'))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const kubeconfig = join(dir, 'config')
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: '${url}', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`)
      const r = await runMesh(['version', '--kubeconfig', kubeconfig])
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toBe(`Client version: ${meshVersion()}\nServer version: unavailable\n`)
      expect(r.stderr).toBe(`‼ server version unavailable: the answer to GET ${url}/api/v1/namespaces/mesh-system/configmaps/mesh-config is not JSON (is the kubeconfig's server a Kubernetes API server?)\n`)
    } finally {
      server.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('rejects an unknown output format with exit 2 and nothing on stdout', async () => {
    const r = await runMesh(['version', '-o', 'xml'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^Error: .*xml/)
    expect(r.stderr).toContain('Try this:')
  })

  it('rejects an unknown flag with exit 2, one error line and a hint', async () => {
    const r = await runMesh(['version', '--bogus'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines).toEqual(['Error: Nonexistent flag: --bogus', '  Try this: Run `mesh version --help` to see the flags and examples.'])
  })
})

describe('the real binary', () => {
  it('--help lists the commands', async () => {
    const r = await spawnMesh(['--help'])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/COMMANDS[\s\S]*version/)
  })

  it('version -o json prints valid JSON', async () => {
    const r = await spawnMesh(['version', '-o', 'json', '--client'])
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({client: meshVersion()})
  })

  it('an unknown flag exits 2 with nothing on stdout and no stack trace', async () => {
    const r = await spawnMesh(['version', '--nope'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Nonexistent flag: --nope')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('an unknown command exits 2 with a hint', async () => {
    const r = await spawnMesh(['frobnicate'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('unknown command "frobnicate"')
    expect(r.stderr).toContain('mesh --help')
  })

  it('MESH_DEBUG=1 adds the stack trace', async () => {
    const r = await spawnMesh(['version', '--nope'], {env: {MESH_DEBUG: '1'}})
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toMatch(/\n\s+at /)
  })
})
