// mesh inject / uninject as a user runs them: in process for the flag and error paths, and the
// real binary for stdin and an https URL trusted through NODE_EXTRA_CA_CERTS.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runMesh, spawnMesh} from '../helpers/run.js'
import {ANCHORS, values} from './golden-helpers.js'
import {startHttps, type LocalHttps} from './https-server.js'

const IGNORE = ['--ignore-cluster', '--identity-trust-anchors-file', ANCHORS]
const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  containers:\n  - name: app\n    image: app:1\n'
let dir: string

beforeAll(() => {
  process.env.NO_COLOR = '1'
  dir = mkdtempSync(join(tmpdir(), 'mesh-inject-cli-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('mesh inject (in process)', () => {
  it('without an input it is a usage error', async () => {
    const r = await runMesh(['inject', ...IGNORE])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Error: no input given')
  })

  it('--ignore-cluster without anchors names --identity-trust-anchors-file', async () => {
    const r = await runMesh(['inject', '--ignore-cluster', file('a.yaml', POD)])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Try this: Pass --identity-trust-anchors-file <ca.pem>')
  })

  it('an anchors file without a certificate is refused', async () => {
    const r = await runMesh(['inject', '--ignore-cluster', '--identity-trust-anchors-file', file('x.pem', 'hello'), file('b.yaml', POD)])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain('no PEM certificate in the file')
  })

  it('a bad flag value is a usage error naming the flag', async () => {
    const r = await runMesh(['inject', ...IGNORE, '--proxy-cpu-request', 'lots', file('c.yaml', POD)])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('Error: --proxy-cpu-request: "lots" is not a Kubernetes quantity such as 100m or 64Mi')
    const ports = await runMesh(['inject', ...IGNORE, '--skip-outbound-ports', '80,70000', file('c.yaml', POD)])
    expect(ports.exitCode).toBe(2)
    expect(ports.stderr).toContain('--skip-outbound-ports')
  })

  it('one malformed file among several: nothing on stdout, the file and line named', async () => {
    const good = file('good.yaml', POD)
    const bad = file('bad.yaml', 'kind: Pod\nmetadata:\n  name: [x\n')
    const r = await runMesh(['inject', ...IGNORE, good, bad])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`^Error: ${bad}: line \\d: malformed YAML`))
  })

  it('a directory of YAML and JSON gives one YAML stream in file order', async () => {
    const d = join(dir, 'tree')
    mkdirSync(join(d, 'sub'), {recursive: true})
    writeFileSync(join(d, 'a.yaml'), POD)
    writeFileSync(join(d, 'sub', 'b.json'), JSON.stringify({apiVersion: 'v1', kind: 'Service', metadata: {name: 's'}}))
    const r = await runMesh(['inject', ...IGNORE, d])
    expect(r.exitCode).toBe(0)
    const docs = values(r.stdout) as {kind: string}[]
    expect(docs.map((x) => x.kind)).toEqual(['Pod', 'Service'])
    expect(r.stderr).toBe('pod "p" injected\nservice "s" skipped\n')
  })

  it('uninject needs no cluster and restores the input', async () => {
    const injected = await runMesh(['inject', ...IGNORE, file('d.yaml', POD)])
    const r = await runMesh(['uninject', file('e.yaml', injected.stdout)])
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toBe(POD)
    expect(r.stderr).toBe('pod "p" uninjected\n')
  })

  it('uninject -o json emits JSON', async () => {
    const r = await runMesh(['uninject', '-o', 'json', file('f.yaml', POD)])
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(values(POD)[0])
    expect(r.stderr).toContain('no injected workload found in the input')
  })
})

describe('the real binary', {timeout: 60_000}, () => {
  let https: LocalHttps
  beforeAll(async () => {
    https = await startHttps({'/app.yaml': [200, POD], '/missing.yaml': [404, 'no']})
  })
  afterAll(async () => https.close())

  it('reads stdin for - and writes the injected stream', async () => {
    const r = await spawnMesh(['inject', ...IGNORE, '-'], {stdin: POD})
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toBe('pod "p" injected\n')
    const [pod] = values(r.stdout) as {spec: {initContainers: {name: string}[]}}[]
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(['mesh-init', 'mesh-proxy'])
  })

  it('reads an https URL trusted through NODE_EXTRA_CA_CERTS; a 404 is refused', async () => {
    const ca = file('ca.pem', https.certPem)
    const ok = await spawnMesh(['inject', ...IGNORE, `${https.url}/app.yaml`], {env: {NODE_EXTRA_CA_CERTS: ca}})
    expect(ok.stderr).toBe('pod "p" injected\n')
    expect(ok.exitCode).toBe(0)
    expect(ok.stdout).toContain('name: mesh-proxy')
    const missing = await spawnMesh(['inject', ...IGNORE, `${https.url}/missing.yaml`], {env: {NODE_EXTRA_CA_CERTS: ca}})
    expect(missing.exitCode).toBe(1)
    expect(missing.stdout).toBe('')
    expect(missing.stderr).toContain(`Error: ${https.url}/missing.yaml: the server answered 404 Not Found, not 200`)
    expect(missing.stderr).not.toMatch(/\n\s+at /)
  })
})
