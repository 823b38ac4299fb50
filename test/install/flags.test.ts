// Bad input to `mesh install`: each error names the input, the problem and the fix, exits
// non-zero (2 for flag misuse, 1 for unusable files) and leaves stdout empty.
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {generateRsaKey} from '../../src/tls/keys.js'
import {signLeaf} from '../../src/tls/leaf.js'
import {runMesh} from '../helpers/run.js'
import {fixture, identityArgs} from './helpers.js'

const tmp = mkdtempSync(path.join(tmpdir(), 'mesh-install-test-'))
const file = (name: string, text: string) => {
  const p = path.join(tmp, name)
  writeFileSync(p, text)
  return p
}

async function fails(args: string[], exit: number, ...patterns: RegExp[]) {
  const r = await runMesh(['install', '--ignore-cluster', ...args])
  expect(r.exitCode).toBe(exit)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/^Error: /)
  expect(r.stderr).toContain('Try this:')
  expect(r.stderr).not.toMatch(/\n\s+at /)
  for (const p of patterns) expect(r.stderr).toMatch(p)
  return r
}

describe('mesh install: values errors', () => {
  it('--set with an unknown key exits 2 and suggests the right one', async () => {
    await fails(['--set', 'proxy.loglevel=debug'], 2, /unknown key "proxy.loglevel"/, /Did you mean "proxy.logLevel"/)
  })
  it('--set without "=" exits 2', async () => {
    await fails(['--set', 'ha'], 2, /--set "ha" is not key=value/)
  })
  it('--set with a wrong type exits 2 naming the type', async () => {
    await fails(['--set', 'controller.replicas=three'], 2, /"controller.replicas" is "three"; it must be int/)
    await fails(['--set', 'ha=yes'], 2, /"ha" is "yes"; it must be bool/)
    await fails(['--set', 'image.pullPolicy=Sometimes'], 2, /one of IfNotPresent, Always, Never/)
    await fails(['--set', 'webhook.timeoutSeconds=60'], 2, /above the maximum 30/)
    await fails(['--set', 'proxy.opaquePorts=mysql'], 2, /"proxy.opaquePorts" is "mysql", not ports and ranges separated by commas/)
  })
  it('policy.defaultInbound must be a default inbound policy, policy.clusterNetworks canonical CIDRs', async () => {
    await fails(['--set', 'policy.defaultInbound=allow'], 2, /"policy.defaultInbound" is "allow"; it must be one of deny, audit, all-authenticated, cluster-authenticated, all-unauthenticated/)
    await fails(['--set', 'policy.clusterNetworks=10.0.0.0/8,10.1.2.3/16'], 2, /"policy.clusterNetworks" is not a list of CIDRs: "10.1.2.3\/16" has host bits set: write 10.1.0.0\/16 for the network/)
    await fails(['--set', 'policy.clusterNetworks=10.0.0.0/8,,'], 2, /is not a list of CIDRs: "" is not a CIDR/)
  })
  it('--ha with one replica is a contradiction', async () => {
    await fails(['--ha', '--set', 'controller.replicas=1'], 2, /--ha with controller.replicas=1/)
  })
  it('a values file with an unknown key or a wrong type exits 1 naming the file', async () => {
    await fails(['-f', file('bad-key.yaml', 'controller:\n  replica: 2\n')], 1, /values file .*bad-key.yaml: unknown key "controller.replica"/, /Did you mean "controller.replicas"/)
    await fails(['-f', file('bad-type.yaml', 'controller:\n  replicas: "2"\n')], 1, /bad-type.yaml: "controller.replicas" is "2"; it must be int/)
    await fails(['-f', file('list.yaml', '- a\n- b\n')], 1, /must hold a mapping/)
    await fails(['-f', file('broken.yaml', 'a: [\n')], 1, /broken.yaml is not valid YAML/)
    await fails(['-f', path.join(tmp, 'missing.yaml')], 1, /cannot read values file .*missing.yaml: ENOENT/)
  })
  it('--image must be a reference, --webhook-url https', async () => {
    await fails(['--image', 'bad image'], 2, /--image "bad image" is not an image reference/)
    await fails(['--webhook-url', 'http://127.0.0.1:1/inject'], 2, /must be https/)
  })
  it('values apply in order: files, then --set, then image flags', async () => {
    const f = file('order.yaml', 'image:\n  tag: from-file\nproxy:\n  logLevel: warn\n')
    const r = await runMesh(['install', '--ignore-cluster', ...identityArgs(), '-f', f, '--set', 'image.tag=from-set', '--image-tag', 'from-flag', '-o', 'json'])
    expect(r.exitCode).toBe(0)
    const deploy = JSON.parse(r.stdout).items.find((o: any) => o.kind === 'Deployment')
    expect(deploy.spec.template.spec.containers[0].image).toBe('ghcr.io/mesh-dev/mesh:from-flag')
    const values = JSON.parse(JSON.parse(r.stdout).items.find((o: any) => o.metadata.name === 'mesh-config').data.values)
    expect(values.proxyLogLevel).toBe('warn')
  })
})

describe('mesh install: identity errors', () => {
  it('one or two identity flags exit 2 naming the missing ones', async () => {
    await fails(['--identity-trust-anchors-file', fixture('identity', 'ca.crt')], 2, /missing --identity-issuer-certificate-file, --identity-issuer-key-file/)
  })
  it('an issuer signed by another anchor is refused', async () => {
    await fails([
      '--identity-trust-anchors-file', fixture('identity', 'ca.crt'),
      '--identity-issuer-certificate-file', fixture('other', 'issuer.crt'),
      '--identity-issuer-key-file', fixture('other', 'issuer.key'),
    ], 1, /issuer.crt does not chain to --identity-trust-anchors-file/)
  })
  it('a key that does not match the certificate is refused', async () => {
    await fails([
      '--identity-trust-anchors-file', fixture('identity', 'ca.crt'),
      '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt'),
      '--identity-issuer-key-file', fixture('other', 'issuer.key'),
    ], 1, /--identity-issuer-key-file .*other\/issuer.key does not match the certificate/)
  })
  it('an expired issuer is refused', async () => {
    await fails(identityArgs('other', 'expired-issuer').map((a) => a.replace(path.join('other', 'ca.crt'), path.join('identity', 'ca.crt'))), 1, /expired/)
  })
  it('a file that is not PEM, or missing, is refused naming the flag', async () => {
    const junk = file('junk.pem', 'hello\n')
    await fails([
      '--identity-trust-anchors-file', junk,
      '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt'),
      '--identity-issuer-key-file', fixture('identity', 'issuer.key'),
    ], 1, /--identity-trust-anchors-file .*junk.pem: no PEM CERTIFICATE block/)
    await fails([
      '--identity-trust-anchors-file', fixture('identity', 'ca.crt'),
      '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt'),
      '--identity-issuer-key-file', junk,
    ], 1, /--identity-issuer-key-file .*junk.pem: not a private key/)
    await fails([
      '--identity-trust-anchors-file', path.join(tmp, 'nope.crt'),
      '--identity-issuer-certificate-file', fixture('identity', 'issuer.crt'),
      '--identity-issuer-key-file', fixture('identity', 'issuer.key'),
    ], 1, /--identity-trust-anchors-file .*nope.crt: cannot read it \(ENOENT\)/)
  })
  it('a leaf (not a CA) as issuer is refused', async () => {
    const issuer = {certPem: readFileSync(fixture('identity', 'issuer.crt'), 'utf8'), keyPem: readFileSync(fixture('identity', 'issuer.key'), 'utf8')}
    const key = await generateRsaKey()
    const leaf = signLeaf(issuer, {publicKeyPem: key.publicKeyPem, dnsName: 'web.default.serviceaccount.identity.mesh-system.cluster.local'})
    await fails([
      '--identity-trust-anchors-file', fixture('identity', 'ca.crt'),
      '--identity-issuer-certificate-file', file('leaf.crt', leaf.certPem),
      '--identity-issuer-key-file', file('leaf.key', key.keyPem),
    ], 1, /leaf.crt: CN=web.default.* is not a CA/)
  })
})

describe('mesh install: cluster', () => {
  it('without --ignore-cluster and no kubeconfig it says how to fix it', async () => {
    const r = await runMesh(['install', '--kubeconfig', path.join(tmp, 'no-kubeconfig')])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/no kubeconfig at .*no-kubeconfig/)
    expect(r.stderr).toContain('--ignore-cluster')
  })
})
