// `mesh controller --mode local` as the real binary: it serves certify and destination on
// 127.0.0.1, a proxy identity and a destination client work against it, SIGTERM stops it
// cleanly. Flag mistakes exit 2 with a hint.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT, runMesh} from '../helpers/run.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {controllerIdentityName, issueLocalToken} from '../../src/control/identity/index.js'
import {startIdentity} from '../../src/proxy/identity/index.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-ctl-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

describe('mesh controller --mode local (real binary)', () => {
  it('serves identity and destination, and stops on SIGTERM', async () => {
    const reg = path.join(tmp, 'reg.yaml')
    writeFileSync(reg, 'services:\n  - name: web\n    namespace: shop\n    ports:\n      - port: 80\n        endpoints:\n          - {address: 127.0.0.1, port: 18080, serviceAccount: web}\n')
    const idDir = path.join(tmp, 'id')
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'controller', '--mode', 'local', '--identity-dir', idDir, '--registry-file', reg, '--identity-port', '0', '--destination-port', '0'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    try {
      const ready = await new Promise<{identityPort: number; destinationPort: number}>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d
          const m = /controller ready .*identityPort=(\d+) destinationPort=(\d+)/.exec(stderr)
          if (m) resolve({identityPort: Number(m[1]), destinationPort: Number(m[2])})
        })
        void exited.then((code) => reject(new Error(`controller exited ${code}: ${stderr}`)))
      })
      const anchors = readFileSync(path.join(idDir, 'ca.crt'), 'utf8')
      const tokenFile = path.join(tmp, 'token')
      writeFileSync(tokenFile, issueLocalToken('web', 'shop', readFileSync(path.join(idDir, 'token-secret'), 'utf8').trim()))
      const id = await startIdentity({localName: identityName('web', 'shop'), identityAddr: `https://127.0.0.1:${ready.identityPort}`, identityServiceName: controllerIdentityName(), tokenFile, trustAnchorsPem: anchors})
      await id.ready()
      const dc = new DestinationClient({addr: `wss://127.0.0.1:${ready.destinationPort}`, namespace: 'shop', identity: id, serverName: controllerIdentityName()})
      const r = (await dc.resolve('web:80'))!
      expect(r.current().endpoints).toMatchObject([{host: '127.0.0.1', port: 18080, identity: identityName('web', 'shop')}])
      dc.close()
      id.close()
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(stderr).toMatch(/stopping reason=SIGTERM/)
      expect(stderr).toMatch(/stopped/)
      expect(stdout).toBe('')
    } finally {
      clearTimeout(killer)
      child.kill('SIGKILL')
    }
  })

  it('flag mistakes exit 2 with a hint and nothing on stdout', async () => {
    const r = await runMesh(['controller', '--mode', 'local', '--registry-file', 'x.yaml'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('--identity-dir is required with --mode local')
    expect(r.stderr).toContain('Try this:')
    const r2 = await runMesh(['controller', '--registry-file', 'x.yaml'])
    expect(r2.exitCode).toBe(2)
    expect(r2.stderr).toContain('--registry-file only applies to --mode local')
    const r3 = await runMesh(['controller', '--mode', 'local', '--identity-dir', path.join(tmp, 'id2'), '--registry-file', 'x.yaml', '--leaf-lifetime', 'soon'])
    expect(r3.exitCode).toBe(2)
    expect(r3.stderr).toContain('--leaf-lifetime "soon" is not a duration')
    for (const bad of ['3306;5432', 'mysql', '3306,', '1-2-3']) {
      const r4 = await runMesh(['controller', '--default-opaque-ports', bad])
      expect(r4.exitCode, bad).toBe(2)
      expect(r4.stdout).toBe('')
      expect(r4.stderr).toContain(`--default-opaque-ports "${bad}" is not a list of ports`)
    }
  })

  it('a missing registry file fails with exit 1 naming the file', async () => {
    const r = await runMesh(['controller', '--mode', 'local', '--identity-dir', path.join(tmp, 'id3'), '--registry-file', path.join(tmp, 'missing.yaml'), '--identity-port', '0', '--destination-port', '0'])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/cannot read the registry file .*missing\.yaml: ENOENT/)
  })
})
