// A proxy that cannot read original destinations (the SO_ORIGINAL_DST addon not built, as on a
// platform other than Linux) says so at start: the inbound side, without a forward address,
// cannot send anything anywhere (every redirected request got 502 "no original destination"
// while its listening line said forward="original destination"), and the outbound side closes
// opaque connections. Run here as pods run it (bin/run.js, the sidecar's bundle), from a copy of
// the package that has no native/build/.
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import http from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {ROOT} from '../helpers/run.js'
import {startRealProxy, type RealProxy} from './real-proxy.js'

let tree: string
const running: RealProxy[] = []

beforeAll(() => {
  // bin/run.js's fast path runs dist/proxy/sidecar.cjs and nothing else of the package.
  tree = mkdtempSync(join(tmpdir(), 'mesh-no-addon-'))
  mkdirSync(join(tree, 'bin'))
  mkdirSync(join(tree, 'dist/proxy'), {recursive: true})
  for (const f of readdirSync(join(ROOT, 'bin'))) if (f.endsWith('.js')) copyFileSync(join(ROOT, 'bin', f), join(tree, 'bin', f))
  copyFileSync(join(ROOT, 'dist/proxy/sidecar.cjs'), join(tree, 'dist/proxy/sidecar.cjs'))
  copyFileSync(join(ROOT, 'package.json'), join(tree, 'package.json'))
})
afterEach(async () => {
  for (const p of running.splice(0)) await p.kill()
})
afterAll(() => rmSync(tree, {recursive: true, force: true}))

async function start(env: NodeJS.ProcessEnv = {}): Promise<RealProxy> {
  const p = await startRealProxy({MESH_PROXY_LOG_LEVEL: 'info', ...env}, [], tree)
  running.push(p)
  return p
}

function get(port: number): Promise<{status: number, error: string | undefined}> {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000}, (res) => {
      res.resume()
      res.on('end', () => resolve({status: res.statusCode ?? 0, error: res.headers['mesh-proxy-error'] as string | undefined}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

const line = (stderr: string, text: string): string => stderr.split('\n').find((l) => l.includes(text)) ?? ''

describe('a proxy without the SO_ORIGINAL_DST addon', () => {
  it('warns for each side, naming the problem and the fix, and its listening lines say where traffic goes', async () => {
    const p = await start()
    const err = p.stderr()
    const inbound = line(err, 'inbound cannot read original destinations')
    expect(inbound).toMatch(/^\S+ WARN /)
    expect(inbound).toContain('has no forward address')
    expect(inbound).toContain('502 "no original destination"')
    // One line: Node's "Require stack" after the loader's message is left out.
    expect(inbound).toMatch(/reason="native addon not loaded .*original_dst\.node'" fix=/)
    expect(inbound).toContain('MESH_PROXY_INBOUND_FORWARD_ADDR')
    expect(inbound).toContain('scripts/build-native.sh')
    expect(line(err, 'inbound listening')).toContain('forward="none (original destinations unreadable, no forward address)"')
    expect(err).not.toContain('forward="original destination"')
    const outbound = line(err, 'outbound cannot read original destinations')
    expect(outbound).toMatch(/^\S+ WARN .*opaque \(non-HTTP\) connections redirected here are closed/)
    expect(outbound).toContain('scripts/build-native.sh')
    expect(line(err, 'outbound listening')).toContain('originalDst=unreadable')
    // What the warning says is what happens.
    expect(await get(p.ports.inbound)).toEqual({status: 502, error: expect.stringContaining('no original destination')})
  })

  it('with a forward address, the inbound side needs no original destination: no inbound warning', async () => {
    const app = http.createServer((_, res) => res.end('app'))
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
    try {
      const port = (app.address() as {port: number}).port
      const p = await start({MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${port}`})
      const err = p.stderr()
      expect(err).not.toContain('inbound cannot read original destinations')
      expect(line(err, 'inbound listening')).toContain(`forward=127.0.0.1:${port}`)
      expect(err).toContain('outbound cannot read original destinations')
      expect((await get(p.ports.inbound)).status).toBe(200)
    } finally {
      app.close()
    }
  })
})
