// A destination service that does what no controller should: stays silent, answers errors,
// drops the connection, sends policies of wrong shapes and generated garbage. The proxy (in
// process, its real DestinationClient on a real WebSocket, a real mTLS identity, real clients)
// must hold connections until the first policy, fall back to MESH_PROXY_INBOUND_POLICY when the
// control plane does not serve policies (BAD_REQUEST), keep the last good policy through errors,
// disconnections and every message it cannot rely on (counted), never throw, and decide each
// default inbound policy as the specification says.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import fc from 'fast-check'
import {WebSocketServer, type WebSocket} from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DEFAULT_INBOUND_POLICIES, type AuthzPolicy} from '../../src/protocol/authz.js'
import {parseInboundPolicy} from '../../src/proxy/config/inbound-policy.js'
import {Logger} from '../../src/proxy/core/log.js'
import {DestinationClient} from '../../src/proxy/discovery/destination-client.js'
import {LiveAuthz} from '../../src/proxy/inbound/live-authz.js'
import {eventually} from '../helpers/eventually.js'
import {grpcSay, h1, openTcp, seriesValue, startAuthzPod, tcpEcho, type AuthzPod, type Caller, type ClientCert, type OpenTcp} from './authz-harness.js'
import {makePki, nameOf, type TestPki} from './test-identity.js'

let pki: TestPki
let wss: WebSocketServer
let discovery: DestinationClient
let pod: AuthzPod
let web: ClientCert
let reviews: ClientCert
/** watchAuthz streams asked for, in order (each reconnect and each retry asks again). */
const streams: Array<{ws: WebSocket; id: number; namespace: unknown; pod: unknown; version: unknown}> = []
/** What a new stream is answered: nothing, an error, or the latest policy sent. */
let answer: 'silent' | 'latest' | {code: string; message: string} = 'silent'
let latest: unknown
let revisions = 0

function cert(sa: string): ClientCert {
  pki.identity(sa)
  return {identity: nameOf(sa), keyPem: readFileSync(join(pki.dir, `${sa}.key`), 'utf8'), certPem: readFileSync(join(pki.dir, `${sa}.crt`), 'utf8')}
}

function policy(over: Partial<AuthzPolicy> = {}): AuthzPolicy {
  return {
    version: 1, revision: `r${++revisions}`, workload: {namespace: 'default', pod: 'books-0', serviceAccount: 'books', identity: nameOf('books')},
    default: {policy: 'deny', source: 'cluster'}, clusterNetworks: ['127.0.0.2/32'], probes: [], routes: [], policies: [],
    rules: [{policy: {namespace: 'default', name: 'web-only'}, mode: 'enforce', target: {kind: 'workload'}, from: [{identities: [nameOf('web')]}], to: []}],
    ...over,
  }
}

/** The latest stream (the one a proxy listens on). */
const stream = () => streams[streams.length - 1]!

function sendRaw(msg: unknown): void {
  const s = stream()
  s.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg))
}

/** Sends a good policy and waits until the proxy holds it. */
async function inForce(p: AuthzPolicy): Promise<void> {
  latest = p
  sendRaw({...p, type: 'authz', id: stream().id})
  await eventually(`revision ${p.revision} in force`, () => (pod.logs.some((l) => l.includes(`revision=${p.revision} `)) ? true : undefined), {intervalMs: 10})
}

const invalidCount = (): number => seriesValue(pod.metrics(), 'mesh_proxy_authz_stream_errors_total', {reason: 'invalid'}, []) ?? 0

/** Sends a message the proxy must not use, and waits until it has counted it. */
async function sendInvalid(msg: unknown): Promise<void> {
  const before = invalidCount()
  sendRaw(msg)
  await eventually('the message counted invalid', () => (invalidCount() > before ? true : undefined), {intervalMs: 10})
}

/** Under the good policy `web-only` over default deny: web in, reviews and plaintext out. */
async function expectWebOnly(): Promise<void> {
  expect((await h1(pod, '/w', {cert: web})).status).toBe(200)
  expect((await h1(pod, '/w', {cert: reviews})).status).toBe(403)
  expect((await h1(pod, '/w', {from: '127.0.0.2'})).status).toBe(403)
}

beforeAll(async () => {
  pki = makePki()
  web = cert('web')
  reviews = cert('reviews')
  wss = new WebSocketServer({host: '127.0.0.1', port: 0})
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as {type: string; id: number; namespace?: unknown; pod?: unknown; version?: unknown}
      if (m.type !== 'watchAuthz') return
      streams.push({ws, id: m.id, namespace: m.namespace, pod: m.pod, version: m.version})
      if (answer === 'latest' && latest !== undefined) ws.send(JSON.stringify({...(latest as object), type: 'authz', id: m.id}))
      else if (typeof answer === 'object') ws.send(JSON.stringify({type: 'error', id: m.id, ...answer}))
    })
  })
  const port = (wss.address() as {port: number}).port
  const identity = pki.identity('books')
  discovery = new DestinationClient({addr: `ws://127.0.0.1:${port}`, namespace: 'default', identity, backoff: {minMs: 20, maxMs: 200}})
  pod = await startAuthzPod({
    namespace: 'default', pod: 'books-0', identity: identity as typeof identity & {localName: string}, anchorsPem: pki.ca, discovery,
    inboundPolicy: parseInboundPolicy('all-authenticated'), probeKinds: [{kind: 'http', method: 'GET', path: '/healthz'}],
  })
})

afterAll(async () => {
  await pod?.stop()
  discovery?.close()
  wss?.close()
  pki?.cleanup()
})

describe('the stream', () => {
  it('asks for its own pod, version 1; a connection that comes before the first policy waits for it', async () => {
    await eventually('the watchAuthz stream', () => (streams.length > 0 ? true : undefined), {intervalMs: 10})
    expect(stream()).toMatchObject({namespace: 'default', pod: 'books-0', version: 1})
    // Under the environment's policy (all-authenticated) this plaintext request would be refused;
    // held until the policy comes, it is decided by the policy (all-unauthenticated).
    const pending = h1(pod, '/early', {from: '127.0.0.2'})
    await eventually('the connection held', () => (pod.logs.some((l) => l.includes('waits for the first authorization policy')) ? true : undefined), {intervalMs: 10})
    await inForce(policy({default: {policy: 'all-unauthenticated', source: 'cluster'}, rules: []}))
    expect((await pending).status).toBe(200)
  })

  it('each default inbound policy decides as specified (plaintext, mTLS, inside and outside clusterNetworks)', async () => {
    const callers: Record<string, Caller> = {plain2: {from: '127.0.0.2'}, plain3: {from: '127.0.0.3'}, web2: {cert: web, from: '127.0.0.2'}, web3: {cert: web, from: '127.0.0.3'}}
    const expected: Record<string, Record<string, number>> = {
      'deny': {plain2: 403, plain3: 403, web2: 403, web3: 403},
      'audit': {plain2: 200, plain3: 200, web2: 200, web3: 200},
      'all-authenticated': {plain2: 403, plain3: 403, web2: 200, web3: 200},
      'cluster-authenticated': {plain2: 403, plain3: 403, web2: 200, web3: 403},
      'all-unauthenticated': {plain2: 200, plain3: 200, web2: 200, web3: 200},
    }
    expect(Object.keys(expected).sort()).toEqual([...DEFAULT_INBOUND_POLICIES].sort())
    for (const def of DEFAULT_INBOUND_POLICIES) {
      await inForce(policy({default: {policy: def, source: 'namespace'}, rules: []}))
      const audit = () => seriesValue(pod.metrics(), 'mesh_proxy_inbound_policy_audit_total', {policy: 'default:audit'}, ['direction', 'client_id']) ?? 0
      const auditBefore = audit()
      for (const [who, caller] of Object.entries(callers)) {
        const r = await h1(pod, '/d', caller)
        expect(r.status, `${def} ${who}`).toBe(expected[def]![who])
        if (r.status === 403) expect(r.headers['mesh-proxy-error']).toBe(`forbidden by the default inbound policy ${def} (namespace)`)
      }
      expect(audit() - auditBefore, def).toBe(def === 'audit' ? 4 : 0)
    }
    // The legacy `identities:` default: those identities, nobody else.
    await inForce(policy({default: {policy: 'deny', source: 'inbound-policy', identities: [nameOf('web')]}, rules: []}))
    expect((await h1(pod, '/l', {cert: web})).status).toBe(200)
    const r = await h1(pod, '/l', {cert: reviews})
    expect([r.status, r.headers['mesh-proxy-error']]).toEqual([403, 'forbidden by the inbound policy identities:... (inbound-policy)'])
  })

  it('an error other than BAD_REQUEST keeps the policy in force and asks again; BAD_REQUEST (an older control plane) applies the environment\'s policy, probes included', async () => {
    await inForce(policy())
    await expectWebOnly()
    const asked = streams.length
    // The stream ends (FORBIDDEN), and every ask again is refused (UNAVAILABLE): the policy stays.
    answer = {code: 'UNAVAILABLE', message: 'too many streams'}
    sendRaw({type: 'error', id: stream().id, code: 'FORBIDDEN', message: 'not yours'})
    await eventually('asked again, twice', () => (streams.length > asked + 1 ? true : undefined), {intervalMs: 10})
    await expectWebOnly()
    // An older control plane: unknown request type.
    answer = {code: 'BAD_REQUEST', message: 'unknown request type "watchAuthz"'}
    await eventually('the environment\'s policy', () => (pod.logs.some((l) => l.includes('no longer serves authorization policy')) ? true : undefined), {intervalMs: 10})
    // MESH_PROXY_INBOUND_POLICY=all-authenticated: any verified identity, no plaintext but the probe.
    expect((await h1(pod, '/e', {cert: reviews})).status).toBe(200)
    const plain = await h1(pod, '/e', {from: '127.0.0.2'})
    expect([plain.status, plain.headers['mesh-proxy-error']]).toEqual([403, 'plaintext is not allowed by the inbound policy all-authenticated'])
    expect((await h1(pod, '/healthz', {from: '127.0.0.2'})).status).toBe(200)
    expect((await tcpEcho(pod, {from: '127.0.0.2'})).length).toBe(0)
    // The control plane is upgraded: the next ask gets a policy.
    answer = 'latest'
    latest = policy()
    await eventually('the policy back in force', () => (pod.logs.some((l) => l.includes(`revision=${(latest as AuthzPolicy).revision} `)) ? true : undefined), {intervalMs: 10})
    await expectWebOnly()
  })

  it('open opaque connections are decided again whenever the policy in force changes: the environment\'s when the control plane stops serving, the control plane\'s when it comes back', async () => {
    // (opaque bytes: a first byte no HTTP method starts with, as tcpEcho's)
    const bytes = (t: string): Buffer => Buffer.from(`\x00${t}`, 'latin1')
    answer = 'latest'
    await inForce(policy({default: {policy: 'all-unauthenticated', source: 'cluster'}, rules: []}))
    // (each connection closed at the end, whatever happens: an open one would hold the apps' close)
    const open: OpenTcp[] = []
    const connect = async (caller: Caller): Promise<OpenTcp> => {
      const c = await openTcp(pod, caller)
      open.push(c)
      return c
    }
    try {
      const plain = await connect({from: '127.0.0.2'})
      const rev = await connect({cert: reviews})
      expect((await plain.echo(bytes('a'))).toString('latin1')).toBe('\x00a')
      expect((await rev.echo(bytes('a'))).toString('latin1')).toBe('\x00a')
      // The control plane stops serving policies: the environment's all-authenticated applies, and
      // the plaintext connection it refuses is closed; the mTLS one stays.
      const fallbacks = () => pod.logs.filter((l) => l.includes('no longer serves authorization policy')).length
      const before = fallbacks()
      // (counted as the environment's refusals are at accept, by its reason)
      const unauthenticated = () => seriesValue(pod.metrics(), 'mesh_proxy_inbound_policy_refused_total', {reason: 'unauthenticated'}, []) ?? 0
      const refusedBefore = unauthenticated()
      answer = {code: 'BAD_REQUEST', message: 'unknown request type "watchAuthz"'}
      sendRaw({type: 'error', id: stream().id, code: 'UNAVAILABLE', message: 'restarting'})
      await eventually('the environment\'s policy', () => (fallbacks() > before ? true : undefined), {intervalMs: 10})
      await eventually('the plaintext connection closed', () => (plain.isClosed() ? true : undefined), {timeoutMs: 10_000, intervalMs: 10})
      expect(unauthenticated() - refusedBefore).toBe(1)
      expect((await rev.echo(bytes('b'))).toString('latin1')).toBe('\x00b')
      // One more accepted under the environment's policy, then the control plane is back with
      // web-only: both of reviews' connections are closed.
      const rev2 = await connect({cert: reviews})
      expect((await rev2.echo(bytes('c'))).toString('latin1')).toBe('\x00c')
      latest = policy()
      answer = 'latest'
      await eventually('the policy back in force', () => (pod.logs.some((l) => l.includes(`revision=${(latest as AuthzPolicy).revision} `)) ? true : undefined), {intervalMs: 10})
      await eventually('reviews\' connections closed', () => (rev.isClosed() && rev2.isClosed() ? true : undefined), {timeoutMs: 10_000, intervalMs: 10})
      await expectWebOnly()
    } finally {
      for (const c of open) c.destroy()
      // (the next ask gets a policy again, whatever happened above)
      latest = policy()
      answer = 'latest'
    }
  })

  it('a dropped connection keeps the last policy until the new one is sent on the next connection', async () => {
    await inForce(policy())
    answer = 'silent'
    const asked = streams.length
    for (const ws of wss.clients) ws.terminate()
    await eventually('asked again on a new connection', () => (streams.length > asked ? true : undefined), {intervalMs: 10})
    await expectWebOnly()
    await inForce(policy({default: {policy: 'all-unauthenticated', source: 'cluster'}, rules: []}))
    expect((await h1(pod, '/r', {cert: reviews})).status).toBe(200)
    answer = 'latest'
  })
})

describe('messages the proxy cannot rely on', () => {
  const good = () => policy()
  const rule = (over: Record<string, unknown>) => ({...good().rules[0], ...over})
  const cases: Array<[string, unknown]> = [
    ['another version', {...good(), version: 2}],
    ['a version that is a string', {...good(), version: '1'}],
    ['no default', {...good(), default: undefined}],
    ['a default this proxy does not know', {...good(), default: {policy: 'allow-everything', source: 'cluster'}}],
    ['default identities that are not a list', {...good(), default: {policy: 'deny', source: 'inbound-policy', identities: nameOf('reviews')}}],
    ['rules that are not a list', {...good(), rules: {0: good().rules[0]}}],
    ['a rule that is null', {...good(), rules: [null]}],
    ['a source that names nobody (it would let everyone in)', {...good(), rules: [rule({from: [{}]})]}],
    ['a rule without sources', {...good(), rules: [rule({from: []})]}],
    ['identities that are a string', {...good(), rules: [rule({from: [{identities: nameOf('reviews')}]})]}],
    ['an identity pattern that is not one', {...good(), rules: [rule({from: [{identities: ['**']}]})]}],
    ['a CIDR that does not parse', {...good(), rules: [rule({from: [{networks: [{cidr: '127.0.0.0/33'}]}]})]}],
    ['an except that does not parse (it would let in what it excludes)', {...good(), rules: [rule({from: [{networks: [{cidr: '127.0.0.0/8', except: ['garbage']}]}]})]}],
    ['a mode that is neither enforce nor audit', {...good(), rules: [rule({mode: 'permissive'})]}],
    ['a target of another kind', {...good(), rules: [rule({target: {kind: 'namespace'}})]}],
    ['ports that are strings', {...good(), rules: [rule({to: [{ports: ['8080']}]})]}],
    ['a path regex that does not compile', {...good(), rules: [rule({to: [{paths: [{type: 'regex', value: '(a'}]}]})]}],
    ['a route table whose regex does not compile (its route would never be selected)', {...good(), routes: [{port: 80, http: [{match: {path: {type: 'regex', value: '(a'}}, route: {kind: 'HTTPRoute', namespace: 'default', name: 'r'}}], grpc: []}]}],
    ['probes on port 0', {...good(), probes: [{port: 0, method: 'GET', path: '/'}]}],
    ['clusterNetworks that are not a list', {...good(), clusterNetworks: '10.0.0.0/8'}],
    ['null', null],
  ]
  it.each(cases)('%s: ignored, counted, the last good policy stays', async (_name, msg) => {
    await inForce(good())
    await sendInvalid(msg === null ? {type: 'authz', id: stream().id} : {...(msg as object), type: 'authz', id: stream().id})
    await expectWebOnly()
  })

  it('a message of another type on the stream, and text that is not JSON, change nothing', async () => {
    await inForce(good())
    await sendInvalid({type: 'routes', id: stream().id, version: 1})
    sendRaw('{not json')
    await expectWebOnly()
  })

  it('generated garbage never makes the proxy throw, answer 5xx or stop; a good policy after it applies', async () => {
    await inForce(good())
    const garbage = fc.record({
      version: fc.constantFrom(1, 1, 1, 2, '1'),
      revision: fc.string(),
      workload: fc.oneof(fc.constant(good().workload), fc.anything()),
      default: fc.oneof(fc.record({policy: fc.constantFrom(...DEFAULT_INBOUND_POLICIES, 'x'), source: fc.string(), identities: fc.option(fc.array(fc.string()), {nil: undefined})}), fc.anything()),
      clusterNetworks: fc.oneof(fc.constant(['10.0.0.0/8']), fc.array(fc.string(), {maxLength: 2}), fc.anything()),
      probes: fc.oneof(fc.constant([]), fc.array(fc.record({port: fc.integer({min: -1, max: 70000}), method: fc.constantFrom('GET', 'POST', 'PUT'), path: fc.string()}), {maxLength: 2}), fc.anything()),
      routes: fc.oneof(fc.constant([]), fc.array(fc.record({port: fc.anything(), http: fc.anything(), grpc: fc.anything()}), {maxLength: 2}), fc.anything()),
      rules: fc.oneof(
        fc.array(fc.record({
          policy: fc.oneof(fc.constant({namespace: 'default', name: 'g'}), fc.anything()),
          mode: fc.constantFrom('enforce', 'audit', 'x'),
          target: fc.oneof(fc.constant({kind: 'workload'}), fc.record({kind: fc.constantFrom('service', 'route', 'workload'), ports: fc.anything(), route: fc.anything()})),
          from: fc.oneof(fc.array(fc.record({identities: fc.option(fc.array(fc.oneof(fc.constant(nameOf('web')), fc.constant('*'), fc.string())), {nil: undefined}), networks: fc.option(fc.array(fc.record({cidr: fc.oneof(fc.constant('127.0.0.0/8'), fc.string()), except: fc.option(fc.anything(), {nil: undefined})})), {nil: undefined})}), {maxLength: 2}), fc.anything()),
          to: fc.oneof(fc.constant([]), fc.array(fc.record({ports: fc.option(fc.anything(), {nil: undefined}), methods: fc.option(fc.anything(), {nil: undefined}), paths: fc.option(fc.anything(), {nil: undefined})}), {maxLength: 2}), fc.anything()),
        }), {maxLength: 3}),
        fc.anything(),
      ),
      policies: fc.oneof(fc.constant([]), fc.anything()),
    })
    const samples = fc.sample(garbage, 60)
    for (const [i, p] of samples.entries()) {
      sendRaw({...p, revision: `garbage-${i}-${String(p.revision).slice(0, 8)}`, type: 'authz', id: stream().id})
      for (const caller of [{cert: web}, {from: '127.0.0.2'}]) {
        const r = await h1(pod, '/g', caller)
        expect([200, 403], JSON.stringify(p).slice(0, 300)).toContain(r.status)
      }
    }
    expect([0, 7]).toContain((await grpcSay(pod, 'still', {cert: web})).code)
    await inForce(good())
    await expectWebOnly()
  })
})

describe('the wait for the first policy', () => {
  it('ends after its bound when the control plane stays silent: the environment\'s policy applies until a policy comes', async () => {
    const lines: string[] = []
    let events: {policy(p: AuthzPolicy): void} | undefined
    const live = new LiveAuthz({log: new Logger('info', 'plain', (l) => void lines.push(l)), probes: [], refused: () => {}, waitMs: 50})
    live.start({resolve: () => Promise.resolve(null), close: () => {}, watchAuthz: (_ns, _pod, e) => {
      events = e
      return {close: () => {}}
    }}, 'default', 'books-0', Promise.resolve())
    expect(live.waiting).toBe(true)
    await live.settled()
    expect(live.current).toBeUndefined()
    expect(lines.join('')).toContain('no authorization policy from the control plane yet')
    events!.policy(policy())
    expect(live.current).toBeDefined()
    live.close()
  })
})
