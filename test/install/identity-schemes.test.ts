// `mesh install` with an issuer mesh does not keep (cert-manager: --identity-external-issuer,
// identity.issuer.scheme=kubernetes.io/tls) and with ECDSA P-256 issuers: what renders, what is
// refused and how. Certificates are made here with src/tls (RSA and ECDSA) and with openssl.
import {execFileSync} from 'node:child_process'
import {generateKeyPairSync} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {buildCertificate} from '../../src/tls/cert-builder.js'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/index.js'
import {runMesh} from '../helpers/run.js'
import {fixture} from './helpers.js'

const tmp = mkdtempSync(path.join(tmpdir(), 'mesh-install-schemes-'))
afterAll(() => rmSync(tmp, {recursive: true, force: true}))
const file = (name: string, text: string) => {
  const p = path.join(tmp, name)
  writeFileSync(p, text)
  return p
}

interface Obj {
  kind: string
  metadata: {name: string}
  data?: Record<string, string>
  type?: string
  spec?: {template?: {spec?: {containers?: Array<{args?: string[]}>}}}
}

async function render(args: string[]): Promise<{objects: Obj[]; stderr: string}> {
  const r = await runMesh(['install', '--ignore-cluster', '-o', 'json', ...args])
  expect(r.stderr).not.toMatch(/\n\s+at /)
  expect(r.exitCode, r.stderr).toBe(0)
  return {objects: (JSON.parse(r.stdout) as {items: Obj[]}).items, stderr: r.stderr}
}

async function fails(args: string[], exit: number, ...patterns: RegExp[]): Promise<void> {
  const r = await runMesh(['install', '--ignore-cluster', ...args])
  expect(r.exitCode).toBe(exit)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/^Error: /)
  expect(r.stderr).toContain('Try this:')
  for (const p of patterns) expect(r.stderr).toMatch(p)
}

const controllerArgs = (objects: Obj[]) => objects.find((o) => o.kind === 'Deployment')!.spec!.template!.spec!.containers![0]!.args!

let ecAnchor: CaMaterial
let ecIssuer: CaMaterial
beforeAll(async () => {
  ecAnchor = await generateTrustAnchor({keyType: 'ecdsa', commonName: 'ec-root'})
  ecIssuer = await generateIssuer(ecAnchor, {keyType: 'ecdsa', commonName: 'ec-issuer'})
})

describe('--identity-external-issuer (cert-manager owns the issuer)', () => {
  it('renders no issuer Secret, the anchors everywhere proxies read them, and tells the controller the scheme', async () => {
    const {objects, stderr} = await render(['--identity-external-issuer', '--identity-trust-anchors-file', fixture('identity', 'ca.crt')])
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([])
    const roots = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mesh-identity-trust-roots')!
    expect(roots.data!['ca-bundle.crt']).toContain('BEGIN CERTIFICATE')
    expect(controllerArgs(objects)).toContain('--identity-issuer-scheme=kubernetes.io/tls')
    const config = objects.find((o) => o.metadata.name === 'mesh-config')!
    expect(JSON.parse(config.data!.install!).values.identity.issuer).toEqual({scheme: 'kubernetes.io/tls'})
    expect(stderr).toContain('The issuer belongs to cert-manager')
  })

  it('is the same as --set identity.issuer.scheme=kubernetes.io/tls; the default scheme adds no controller flag', async () => {
    const a = await runMesh(['install', '--ignore-cluster', '--identity-external-issuer', '--identity-trust-anchors-file', fixture('identity', 'ca.crt')])
    const b = await runMesh(['install', '--ignore-cluster', '--set', 'identity.issuer.scheme=kubernetes.io/tls', '--identity-trust-anchors-file', fixture('identity', 'ca.crt')])
    expect(a.stdout).toBe(b.stdout)
    const {objects} = await render(['--identity-trust-anchors-file', fixture('identity', 'ca.crt'), '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt'), '--identity-issuer-key-file', fixture('identity', 'issuer.key')])
    expect(controllerArgs(objects).some((x) => x.startsWith('--identity-issuer-scheme'))).toBe(false)
    expect(objects.find((o) => o.kind === 'Secret')!.data!['issuer.crt']).toBeDefined()
  })

  it('refuses issuer files (they are cert-manager\'s) and a missing anchors file, exit 2', async () => {
    await fails(['--identity-external-issuer'], 2, /needs --identity-trust-anchors-file/)
    await fails(['--set', 'identity.issuer.scheme=kubernetes.io/tls'], 2, /needs --identity-trust-anchors-file/)
    await fails(
      ['--identity-external-issuer', '--identity-trust-anchors-file', fixture('identity', 'ca.crt'), '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt')],
      2,
      /--identity-issuer-certificate-file cannot be used with --identity-external-issuer: the issuer belongs to cert-manager/,
    )
    await fails(['--set', 'identity.issuer.scheme=cert-manager'], 2, /"identity.issuer.scheme" is "cert-manager"; it must be one of mesh.dev\/tls, kubernetes.io\/tls/)
  })

  it('refuses anchors that are not CAs or not valid now, naming the file', async () => {
    await fails(['--identity-external-issuer', '--identity-trust-anchors-file', fixture('other', 'expired-issuer.crt')], 1, /expired-issuer.crt: certificate #1 .* is not valid now/)
    const leafish = file('leaf.crt', buildCertificate(
      {publicKeyPem: generateKeyPairSync('ec', {namedCurve: 'prime256v1'}).publicKey.export({type: 'spki', format: 'pem'}).toString(), subjectCommonName: 'not-a-ca', notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86400_000), extensions: [{name: 'basicConstraints', cA: false}]},
      {issuerCertPem: ecAnchor.certPem, issuerKeyPem: ecAnchor.keyPem},
    ))
    await fails(['--identity-external-issuer', '--identity-trust-anchors-file', leafish], 1, /leaf.crt: certificate #1 \(CN=not-a-ca\) is not a CA/)
  })
})

describe('ECDSA issuers', () => {
  it('an ECDSA P-256 anchor and issuer install like RSA ones', async () => {
    const {objects} = await render(['--identity-trust-anchors-file', file('ec-ca.crt', ecAnchor.certPem), '--identity-issuer-certificate-file', file('ec-issuer.crt', ecIssuer.certPem), '--identity-issuer-key-file', file('ec-issuer.key', ecIssuer.keyPem)])
    const secret = objects.find((o) => o.kind === 'Secret')!
    expect(Buffer.from(secret.data!['issuer.key']!, 'base64').toString()).toBe(ecIssuer.keyPem)
  })

  it('an issuer made by openssl with a SEC1 "EC PRIVATE KEY" (cert-manager\'s PKCS1 encoding) is read', async () => {
    const key = path.join(tmp, 'sec1.key')
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
    const csr = path.join(tmp, 'sec1.csr')
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=openssl-issuer', '-out', csr])
    const ext = file('ext.cnf', '[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')
    const ca = file('ec-ca2.crt', ecAnchor.certPem)
    const cakey = file('ec-ca2.key', ecAnchor.keyPem)
    const crt = path.join(tmp, 'sec1.crt')
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', cakey, '-CAcreateserial', '-days', '30', '-extfile', ext, '-extensions', 'v3', '-out', crt])
    const {objects} = await render(['--identity-trust-anchors-file', ca, '--identity-issuer-certificate-file', crt, '--identity-issuer-key-file', key])
    expect(objects.some((o) => o.kind === 'Secret')).toBe(true)
  })

  it('refuses keys mesh cannot sign with, naming the type', async () => {
    for (const [name, type, opts, msg] of [
      ['p521', 'ec', {namedCurve: 'secp521r1'}, /the issuer key is an ECDSA key on curve secp521r1; mesh signs with RSA \(2048 bits or more\), ECDSA P-256 or ECDSA P-384 keys/],
      ['rsa1024', 'rsa', {modulusLength: 1024}, /the issuer key is an RSA key of 1024 bits \(at least 2048 are required\)/],
    ] as const) {
      const k = generateKeyPairSync(type as 'ec', {...opts, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}, publicKeyEncoding: {type: 'spki', format: 'pem'}} as never) as unknown as {privateKey: string; publicKey: string}
      const cert = buildCertificate(
        {publicKeyPem: k.publicKey, subjectCommonName: name, notBefore: new Date(Date.now() - 1000), notAfter: new Date(Date.now() + 86400_000), extensions: [{name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true}, {name: 'keyUsage', keyCertSign: true, critical: true}]},
        {issuerCertPem: ecAnchor.certPem, issuerKeyPem: ecAnchor.keyPem},
      )
      await fails(['--identity-trust-anchors-file', file(`${name}-ca.crt`, ecAnchor.certPem), '--identity-issuer-certificate-file', file(`${name}.crt`, cert), '--identity-issuer-key-file', file(`${name}.key`, k.privateKey)], 1, msg)
    }
  })
})

describe('rendered YAML reads back the same (YAML 1.1 strings)', () => {
  it('the scheme value survives a YAML round trip', async () => {
    const r = await runMesh(['install', '--ignore-cluster', '--identity-external-issuer', '--identity-trust-anchors-file', fixture('identity', 'ca.crt')])
    const docs = r.stdout.split(/^---$/m).slice(1).map((d) => parse(d) as Obj)
    expect(controllerArgs(docs)).toContain('--identity-issuer-scheme=kubernetes.io/tls')
  })
})
