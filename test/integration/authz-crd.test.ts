/**
 * The AuthorizationPolicy CRD on the real API server: `mesh install --crds` applied with kubectl,
 * then the API server itself refusing bad objects (its OpenAPI schema and CEL rules), with the
 * messages a user sees from kubectl; and, differentially, the schema against the controller's
 * validator (src/authz/validate.ts) on generated policies: what one admits the other reads
 * (the validator refuses more: host bits in CIDRs, regexes RE2 cannot compile; nothing less).
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import * as k8s from '@kubernetes/client-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'
import {suggest, suggestionYaml} from '../../src/authz/suggest.js'
import {validatePolicy} from '../../src/authz/validate.js'
import {callers, report} from '../authz/generators.js'
import {AUTHZ_GROUP, AUTHZ_PLURAL, AUTHZ_VERSION} from '../../src/protocol/authz.js'
import {eventually} from '../helpers/eventually.js'
import {cluster, core, kc, mesh} from './install-helpers.js'

const ns = `authz-crd-${randomBytes(3).toString('hex')}`
const custom = kc.makeApiClient(k8s.CustomObjectsApi)
const TD = 'serviceaccount.identity.mesh-system.cluster.local'
let tmp: string

const policy = (name: string, spec: unknown) => ({apiVersion: `${AUTHZ_GROUP}/${AUTHZ_VERSION}`, kind: 'AuthorizationPolicy', metadata: {name, namespace: ns}, spec})
const good = {target: {workload: {name: 'books'}}, from: [{serviceAccounts: [{name: 'web'}]}]}

async function kubectlApply(obj: unknown): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const file = path.join(tmp, `p-${randomBytes(4).toString('hex')}.yaml`)
  writeFileSync(file, stringify(obj))
  const r = await cluster.kubectl(['apply', '-f', file], {allowFailure: true})
  return {exitCode: r.code, stdout: r.stdout, stderr: r.stderr}
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-it-authz-crd-'))
  const r = await mesh('install', '--crds', '--ignore-cluster')
  if (r.exitCode !== 0) throw new Error(`mesh install --crds failed: ${r.stderr}`)
  const file = path.join(tmp, 'crds.yaml')
  writeFileSync(file, r.stdout)
  await cluster.kubectl(['apply', '--server-side', '-f', file])
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api)
  await eventually('the AuthorizationPolicy CRD to be Established', async () => {
    const crd = await ext.readCustomResourceDefinition({name: `${AUTHZ_PLURAL}.${AUTHZ_GROUP}`})
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined
  }, {timeoutMs: 60_000})
  await core.createNamespace({body: {metadata: {name: ns}}})
})

afterAll(async () => {
  await core.deleteNamespace({name: ns}).catch(() => {})
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('the CRD on the API server', () => {
  it('renders only the CRD with --crds, and the API server accepts a good policy (mode defaulted to enforce)', async () => {
    const r = await kubectlApply(policy('web-to-books', {...good, to: [{ports: [8080, 'http'], methods: ['GET'], paths: [{value: '/api'}]}], from: [...good.from, {networks: [{cidr: '10.0.0.0/8', except: ['10.1.0.0/16']}, {cidr: 'fd00::/8'}]}]}))
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain(`authorizationpolicy.${AUTHZ_GROUP}/web-to-books created`)
    const stored = (await custom.getNamespacedCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, namespace: ns, plural: AUTHZ_PLURAL, name: 'web-to-books'})) as {spec: {mode: string; to: Array<{paths: Array<{type: string}>}>}}
    expect(stored.spec.mode).toBe('enforce')
    expect(stored.spec.to[0]!.paths[0]!.type).toBe('PathPrefix')
    const table = await cluster.kubectl(['get', 'authzpolicy', '-n', ns])
    expect(table.stdout).toMatch(/NAME\s+MODE\s+WORKLOAD\s+SERVICE\s+ROUTE\s+AGE\nweb-to-books\s+enforce\s+books/)
  })

  const refusals: Array<[string, unknown, string]> = [
    ['an empty from entry', {...good, from: [{}]}, 'a from entry needs at least one of identities, serviceAccounts, namespaces or networks'],
    ['no from at all', {target: good.target}, 'spec.from: Required value'],
    ['an identity that is not one', {...good, from: [{identities: ['web.*.shop']}]}, 'must be an identity (<sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>), * or *.<suffix>, in lower case'],
    ['an identity in upper case', {...good, from: [{identities: [`Web.shop.${TD}`]}]}, 'must be an identity'],
    ['a repeated identity', {...good, from: [{identities: ['*', '*']}]}, 'Duplicate value: "*"'],
    ['a bad mode', {...good, mode: 'dry-run'}, 'spec.mode: Unsupported value: "dry-run": supported values: "enforce", "audit"'],
    ['an invalid CIDR', {...good, from: [{networks: [{cidr: '10.0.0.0/33'}]}]}, 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8'],
    ['an IPv6 zone', {...good, from: [{networks: [{cidr: 'fe80::1%eth0'}]}]}, 'must be an IPv4 or IPv6 CIDR'],
    ['a leading zero', {...good, from: [{networks: [{cidr: '010.0.0.0/8'}]}]}, 'must be an IPv4 or IPv6 CIDR'],
    ['a bad except', {...good, from: [{networks: [{cidr: '10.0.0.0/8', except: ['10.1.0.0/x']}]}]}, 'must be an IPv4 or IPv6 CIDR such as 10.1.0.0/16'],
    ['two targets', {...good, target: {workload: {name: 'a'}, service: {name: 'b'}}}, 'target must name exactly one of workload, service or route'],
    ['no target kind', {...good, target: {}}, 'target must name exactly one of workload, service or route'],
    ['name and selector', {...good, target: {workload: {name: 'a', selector: {matchLabels: {app: 'a'}}}}}, 'target.workload needs exactly one of name or selector'],
    ['a relative path', {...good, to: [{paths: [{value: 'api'}]}]}, 'an Exact or PathPrefix path must start with /'],
    ['port 0', {...good, to: [{ports: [0]}]}, 'must be a port number from 1 to 65535 or a container port name'],
    ['a bad port name', {...good, to: [{ports: ['Http--x']}]}, 'must be a port number from 1 to 65535 or a container port name'],
    ['an empty to entry', {...good, to: [{}]}, 'a to entry needs at least one of ports, methods or paths'],
    ['a lower-case method', {...good, to: [{methods: ['get']}]}, 'Unsupported value: "get"'],
    ['a route of another kind', {...good, target: {route: {kind: 'TCPRoute', name: 'r'}}}, 'Unsupported value: "TCPRoute"'],
  ]
  for (const [what, spec, message] of refusals) {
    it(`refuses ${what}`, async () => {
      const r = await kubectlApply(policy(`bad-${randomBytes(3).toString('hex')}`, spec))
      expect(r.exitCode).not.toBe(0)
      expect(r.stderr).toContain('is invalid')
      expect(r.stderr).toContain(message)
      // The controller's validator refuses it too.
      expect(validatePolicy(policy('x', spec))!.verdict.ok).toBe(false)
    })
  }

  it('refuses a field the schema does not know (kubectl validates strictly)', async () => {
    const r = await kubectlApply(policy('unknown-field', {...good, action: 'DENY'}))
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toMatch(/unknown field "spec.action"/)
  })
})

describe('the schema against the controller\'s validator', () => {
  /** Mostly valid values, some invalid ones: each field is a near miss one time in ten. */
  const mostly = <T>(valid: T[], invalid: T[]): fc.Arbitrary<T> => fc.oneof({arbitrary: fc.constantFrom(...valid), weight: 9}, {arbitrary: fc.constantFrom(...invalid), weight: 1})
  const identity = mostly(['*', `*.shop.${TD}`, `web.shop.${TD}`, `a.b.shop.${TD}`], ['Web.shop', 'a..b', '*.', 'a*', '-a', 'a_b', 'x'.repeat(64) + '.y', '*.*.a'])
  const cidr = mostly(['10.0.0.0/8', '::/0', 'fd00::/8', '1.2.3.4', '192.168.0.0/16', '2001:DB8::/32', '0.0.0.0/0', '10.1.2.3/8'], ['10.0.0.0/33', '::ffff:1.2.3.4', '1::2::3', 'x', '010.0.0.0/8'])
  const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, {nil: undefined, freq: 2})
  const from = fc.record({
    identities: opt(fc.uniqueArray(identity, {minLength: 1, maxLength: 3})),
    serviceAccounts: opt(fc.array(fc.record({name: mostly(['web', 'a.b'], ['Web', '']), namespace: opt(mostly(['shop', 'batch'], ['a.b', 'Shop']))}), {minLength: 1, maxLength: 2})),
    namespaces: opt(fc.uniqueArray(mostly(['shop', 'batch'], ['Bad', 'a.b', '']), {minLength: 1, maxLength: 2})),
    networks: opt(fc.array(fc.record({cidr, except: opt(fc.array(cidr, {minLength: 1, maxLength: 2}))}), {minLength: 1, maxLength: 2})),
  })
  const to = fc.record({
    ports: opt(fc.array(fc.oneof({arbitrary: fc.integer({min: 1, max: 65535}), weight: 6}, {arbitrary: mostly<number | string>(['http', 'grpc-web', 'h2c'], [0, 70000, 'a--b', '8080', 'h'.repeat(16), 'Http', '-a']), weight: 4}), {minLength: 1, maxLength: 2})),
    methods: opt(fc.uniqueArray(mostly(['GET', 'POST', 'PATCH'], ['get', 'FETCH']), {minLength: 1, maxLength: 2})),
    paths: opt(fc.array(fc.record({type: mostly(['Exact', 'PathPrefix', 'RegularExpression', undefined], ['Regex']), value: mostly(['/a', '/b/c', '/b/[0-9]+', '/'], ['a', '', '/a?b', '/a b', '/(a)\\1'])}), {minLength: 1, maxLength: 2})),
  })
  const target = fc.oneof(
    fc.record({workload: fc.record({name: mostly(['books', 'a.b'], ['Books', '']), kind: opt(mostly(['Deployment', 'Pod'], ['Cron']))})}),
    fc.record({workload: fc.record({selector: mostly<Record<string, unknown>>([{matchLabels: {app: 'books'}}, {matchExpressions: [{key: 'tier', operator: 'In', values: ['a']}]}, {}], [{matchLabels: {'a b': 'x'}}, {matchExpressions: [{key: 'k', operator: 'Exists', values: ['x']}]}, {matchExpressions: [{key: 'k', operator: 'In'}]}])})}),
    fc.record({service: fc.record({name: mostly(['books'], ['b_c']), port: opt(mostly([80, 8080], [0, 70000]))})}),
    fc.record({route: fc.record({name: mostly(['r'], ['R']), kind: opt(mostly(['HTTPRoute', 'GRPCRoute'], ['TLSRoute']))})}),
    fc.constant({}),
  )
  const spec = fc.record({target, from: fc.oneof({arbitrary: fc.array(from, {minLength: 1, maxLength: 2}), weight: 9}, {arbitrary: fc.constant([]), weight: 1}), to: opt(fc.array(to, {minLength: 1, maxLength: 2})), mode: opt(mostly(['enforce', 'audit'], ['off', 'Enforce']))})
  /** JSON without the undefined leaves (they are "left out"). */
  const clean = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

  it('on 300 generated policies: whatever the API server admits, the validator admits (or refuses for host bits / RE2 only)', async () => {
    const samples = fc.sample(spec, {numRuns: 300, seed: 23})
    const disagreements: string[] = []
    let admitted = 0
    for (const [i, s] of samples.entries()) {
      const obj = clean(policy(`gen-${i}`, s)) as Record<string, unknown>
      let apiOk = true
      let apiMessage = ''
      try {
        await custom.createNamespacedCustomObject({group: AUTHZ_GROUP, version: AUTHZ_VERSION, namespace: ns, plural: AUTHZ_PLURAL, body: obj, dryRun: 'All'})
      } catch (err) {
        apiOk = false
        apiMessage = String((err as {body?: unknown}).body ?? err).slice(0, 300)
      }
      const v = validatePolicy(obj)!
      const ours = v.verdict.ok ? '' : v.verdict.message
      const onlyOurs = /host bits|RE2 regular expression/.test(ours)
      if (apiOk) admitted++
      if (apiOk && !v.verdict.ok && !onlyOurs) disagreements.push(`API admits, validator refuses: ${JSON.stringify(obj.spec)}: ${ours}`)
      if (!apiOk && v.verdict.ok) disagreements.push(`API refuses, validator admits: ${JSON.stringify(obj.spec)}: ${apiMessage}`)
    }
    expect(disagreements).toEqual([])
    // The generator is not all garbage: a fair share is admitted.
    expect(admitted).toBeGreaterThan(20)
  })
})

describe('what mesh authz suggest writes, and what the docs show', () => {
  it('the API server admits every suggestion for 40 generated observations (kubectl apply --dry-run=server of the YAML as printed)', async () => {
    const samples = fc.sample(fc.tuple(callers(150, 30, true, ns).filter((c) => c.some((x) => x.clientId)), fc.constantFrom<'audit' | 'enforce'>('audit', 'enforce')), {numRuns: 40, seed: 2323})
    const stream = samples.map(([observed, mode], i) => suggestionYaml(suggest(report(observed, 'books', ns), {mode, name: `s${i}`}))).join('')
    const file = path.join(tmp, 'suggested.yaml')
    writeFileSync(file, stream)
    const count = (stream.match(/^kind: AuthorizationPolicy$/gm) ?? []).length
    const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', file], {allowFailure: true})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect((r.stdout.match(/created \(server dry run\)/g) ?? []).length).toBe(count)
    expect(count).toBeGreaterThan(40)
  })

  it('the example in docs/architecture/authz.md is admitted as written', async () => {
    const md = readFileSync(path.join(import.meta.dirname, '../../docs/architecture/authz.md'), 'utf8')
    const example = /```yaml\n(apiVersion: policy\.mesh\.dev[\s\S]*?)```/.exec(md)![1]!.replace('namespace: shop', `namespace: ${ns}`).replace('name: web-to-books', 'name: doc-example')
    const file = path.join(tmp, 'doc-example.yaml')
    writeFileSync(file, example)
    const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', file], {allowFailure: true})
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain('authorizationpolicy.policy.mesh.dev/doc-example created (server dry run)')
  })
})
