// PRIVILEGED (root, iproute2, iptables, setpriv, curl). The mesh on arm64, under qemu-user: two
// network namespaces joined by a veth play a client pod (10.244.252.1) and a server pod
// (10.244.252.2). In each, the arm64 `mesh proxy-init` writes the iptables rules and the arm64
// `mesh proxy` runs as uid 2102 with the injected sidecar's settings; the arm64 `mesh controller`
// (local mode: identity and discovery from files) runs in the server pod. The client pod's apps
// (uid 1000) call a Service IP: the REDIRECT sends them to the client proxy, which reads the
// original destination, finds the server pod through discovery and talks mTLS to it; the server
// pod's REDIRECT sends that to its proxy, which reads the original destination (the app's port)
// and hands the request to the app on loopback. HTTP/1.1, HTTP/2 (h2c) and opaque TCP.
//
// qemu-user does not translate getsockopt(SO_ORIGINAL_DST) (ENOPROTOOPT without asking the
// kernel), so the proxies run with test/arm64/native/orig-dst-shim.c preloaded: when, and only
// when, the emulator refuses that option, the socket goes to a native helper that asks the
// kernel. The helper's log proves the path was taken; the proxies' own addon, built for arm64,
// parses the answer.
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ensureLocalIdentityDir} from '../../src/control/identity/local-dir.js'
import {issueLocalToken} from '../../src/control/identity/local-tokens.js'
import {parseMetrics} from '../../src/metrics/parse.js'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../src/protocol/identity.js'
import {identityName, PROXY_RUNTIME_ENV, ProxyEnv} from '../../src/protocol/proxy-env.js'
import {eventually} from '../helpers/eventually.js'
import {deleteNamespaces, inNs, joinedNamespaces} from '../helpers/netns.js'
import {ROOT} from '../helpers/run.js'
import {arm64, arm64Argv, origDstBridge} from './arm64.js'

const id = randomBytes(3).toString('hex')
const CLIENT = `mesh-a64-${id}-c`
const SERVER = `mesh-a64-${id}-s`
const CLIENT_IP = '10.244.252.1'
const SERVER_IP = '10.244.252.2'
const SERVICE_IP = '10.96.0.10'
const NS = 'shop'
const PROXY_UID = 2102
const APP_UID = 1000
const PORTS = {identity: 18080, destination: 18086, tap: 18089, web: 8080, tcp: 9000}
const CONTROLLER_ID = identityName(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system')
const IGNORE_INBOUND = '4190,4191'

interface Proc {name: string, child: ChildProcess, out: string}
const procs: Proc[] = []
let work: string

function sh(argv: string[]): string {
  return execFileSync(argv[0], argv.slice(1), {encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe']})
}
const asUser = (uid: number, argv: string[]): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...argv]

/** A long-running process; its stdout and stderr are kept for assertions and failure messages. */
function start(name: string, argv: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(argv[0], argv.slice(1), {cwd: ROOT, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  const p: Proc = {name, child, out: ''}
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (p.out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (p.out += d))
  procs.push(p)
  return p
}

const logs = (): string => procs.map((p) => `--- ${p.name} (exit ${p.child.exitCode})\n${p.out.slice(-3000)}`).join('\n')

/** The proxy of a pod, as the injector configures it, as uid 2102 on the emulated node. */
function proxy(ns: string, sa: string, helperSocket: string, ignoreInbound: string): Proc {
  const dir = join(work, sa)
  mkdirSync(join(dir, 'identity'), {recursive: true})
  const token = join(dir, 'token')
  writeFileSync(token, issueLocalToken(sa, NS, identity.tokenSecret) + '\n', {mode: 0o600})
  for (const p of [dir, join(dir, 'identity'), token]) chownSync(p, PROXY_UID, PROXY_UID)
  const env: Record<string, string> = {
    [ProxyEnv.INBOUND_LISTEN_ADDR]: '0.0.0.0:4143', [ProxyEnv.OUTBOUND_LISTEN_ADDR]: '127.0.0.1:4140',
    [ProxyEnv.ADMIN_LISTEN_ADDR]: '0.0.0.0:4191', [ProxyEnv.TAP_LISTEN_ADDR]: '0.0.0.0:4190',
    [ProxyEnv.DESTINATION_ADDR]: `wss://${SERVER_IP}:${PORTS.destination}`, [ProxyEnv.DESTINATION_IDENTITY]: CONTROLLER_ID,
    [ProxyEnv.IDENTITY_ADDR]: `https://${SERVER_IP}:${PORTS.identity}`, [ProxyEnv.IDENTITY_SVC_NAME]: CONTROLLER_ID,
    [ProxyEnv.TAP_SVC_NAME]: CONTROLLER_ID, [ProxyEnv.IDENTITY_LOCAL_NAME]: identityName(sa, NS),
    [ProxyEnv.IDENTITY_DIR]: join(dir, 'identity'), [ProxyEnv.IDENTITY_TOKEN_FILE]: token,
    [ProxyEnv.IDENTITY_TRUST_ANCHORS_PEM]: identity.anchorsPem,
    [ProxyEnv.POD_NAMESPACE]: NS, [ProxyEnv.POD_NAME]: `${sa}-0`, [ProxyEnv.WORKLOAD_KIND]: 'deployment', [ProxyEnv.WORKLOAD_NAME]: sa,
    [ProxyEnv.INBOUND_PORTS_TO_IGNORE]: ignoreInbound, [ProxyEnv.LOG_LEVEL]: 'info',
    ...PROXY_RUNTIME_ENV,
  }
  return start(`proxy ${sa}`, inNs(ns, asUser(PROXY_UID, arm64Argv([join(arm64().tree, 'bin/run.js'), 'proxy'], origDstBridge(helperSocket)))), {...env, HOME: '/nonexistent'})
}

/** `mesh proxy-init` on the emulated node, in a pod's namespace. */
function proxyInit(ns: string, ignoreInbound: string): void {
  const argv = inNs(ns, arm64Argv([join(arm64().tree, 'bin/run.js'), 'proxy-init', '--proxy-uid', String(PROXY_UID), '--inbound-ports-to-ignore', ignoreInbound]))
  const r = spawnSync(argv[0], argv.slice(1), {cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: {...process.env, NO_COLOR: '1'}})
  if (r.status !== 0) throw new Error(`mesh proxy-init in ${ns} exited ${r.status}: ${r.stderr}`)
}

async function ready(ns: string, port: number): Promise<void> {
  await eventually(`the proxy in ${ns} to be ready`, () => {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://127.0.0.1:${port}/ready`], {encoding: 'utf8'})
    return r.stdout === '200' ? true : undefined
  }, {timeoutMs: 240_000, intervalMs: 1000, context: logs})
}

function metrics(ns: string): ReturnType<typeof parseMetrics> {
  return parseMetrics(sh(inNs(ns, ['curl', '-s', '--max-time', '10', 'http://127.0.0.1:4191/metrics'])))
}

/** curl in the client pod as an app (uid 1000): its connection is redirected to the client proxy. */
function curlFromApp(args: string[]): string {
  const argv = inNs(CLIENT, asUser(APP_UID, ['curl', '-sS', '--fail-with-body', '--max-time', '60', ...args]))
  const r = spawnSync(argv[0], argv.slice(1), {encoding: 'utf8', timeout: 90_000})
  if (r.status !== 0) throw new Error(`curl ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}\n${logs()}`)
  return r.stdout
}

let identity: Awaited<ReturnType<typeof ensureLocalIdentityDir>>
let helper: Proc

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('test/arm64/mesh.test.ts must run as root')
  work = mkdtempSync(join(tmpdir(), 'mesh-arm64-mesh-'))
  chmodSync(work, 0o755)
  identity = await ensureLocalIdentityDir(join(work, 'controller'))
  writeFileSync(join(work, 'registry.json'), JSON.stringify({services: [{name: 'web', namespace: NS, clusterIP: SERVICE_IP, ports: [
    {port: 80, endpoints: [{address: SERVER_IP, port: PORTS.web, serviceAccount: 'server', pod: 'server-0', deployment: 'server'}]},
    {port: PORTS.tcp, endpoints: [{address: SERVER_IP, port: PORTS.tcp, serviceAccount: 'server', pod: 'server-0', deployment: 'server'}]},
  ]}]}))

  // The pods' network: a veth between two namespaces; the client routes the Service range to it
  // (a connect() needs a route; the REDIRECT then takes the connection to the proxy).
  const vc = `a64c${id}`
  joinedNamespaces({ns: CLIENT, dev: vc, ip: CLIENT_IP}, {ns: SERVER, dev: `a64s${id}`, ip: SERVER_IP})
  sh(inNs(CLIENT, ['ip', 'route', 'add', '10.96.0.0/16', 'dev', vc]))

  // The SO_ORIGINAL_DST bridge's native side (see the top of this file).
  const socket = join(work, 'orig-dst.sock')
  helper = start('orig-dst helper', [arm64().helper, socket])
  await eventually('the orig-dst helper', () => (helper.out.includes('ready') ? true : undefined), {timeoutMs: 10_000, context: logs})

  // The server pod: its app, the controller (its ports are not the proxy's), the rules, the proxy.
  const serverIgnore = `${IGNORE_INBOUND},${PORTS.identity},${PORTS.destination},${PORTS.tap}`
  const app = start('app', inNs(SERVER, [process.execPath, join(ROOT, 'test/arm64/app.mjs'), String(PORTS.web), String(PORTS.tcp)]))
  const controller = start('controller', inNs(SERVER, arm64Argv([join(arm64().tree, 'bin/run.js'), 'controller', '--mode', 'local',
    '--identity-dir', join(work, 'controller'), '--registry-file', join(work, 'registry.json'), '--listen-host', SERVER_IP,
    '--identity-port', String(PORTS.identity), '--destination-port', String(PORTS.destination), '--tap-port', String(PORTS.tap), '--log-level', 'info'])))
  proxyInit(SERVER, serverIgnore)
  proxyInit(CLIENT, IGNORE_INBOUND)
  proxy(SERVER, 'server', socket, serverIgnore)
  proxy(CLIENT, 'client', socket, IGNORE_INBOUND)
  await eventually('the app', () => (app.out.includes('ready') ? true : undefined), {timeoutMs: 30_000, context: logs})
  void controller
  await Promise.all([ready(SERVER, 4191), ready(CLIENT, 4191)])
}, 900_000)

afterAll(() => {
  for (const ns of [CLIENT, SERVER]) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], {encoding: 'utf8'}).stdout.split('\n').filter(Boolean)
    for (const pid of pids) spawnSync('kill', ['-9', pid])
  }
  for (const p of procs) p.child.kill('SIGKILL')
  deleteNamespaces(CLIENT, SERVER)
  if (work) rmSync(work, {recursive: true, force: true})
})

describe('the mesh on arm64 (qemu-user)', () => {
  it('redirects with the arm64 proxy-init\'s rules', () => {
    for (const ns of [CLIENT, SERVER]) {
      const rules = sh(inNs(ns, ['iptables-nft-save', '-t', 'nat']))
      expect(rules, ns).toContain('-A MESH_OUTPUT -p tcp -m comment --comment "mesh-proxy-init/redirect-all-outgoing-to-proxy-port" -j REDIRECT --to-ports 4140')
      expect(rules, ns).toContain('-j REDIRECT --to-ports 4143')
    }
  })

  it('carries HTTP/1.1 from a client app to the server app over mTLS, both ends reading the original destination', () => {
    const got = JSON.parse(curlFromApp(['-H', `host: web.${NS}.svc.cluster.local`, `http://${SERVICE_IP}/h1?x=1`])) as Record<string, string>
    // The app saw the server proxy (loopback), on the port the client addressed in the pod.
    expect(got).toEqual({proto: 'h1', path: '/h1?x=1', authority: `web.${NS}.svc.cluster.local`, remote: '127.0.0.1'})
  })

  it('carries HTTP/2 (h2c, prior knowledge) the same way', () => {
    const got = JSON.parse(curlFromApp(['--http2-prior-knowledge', '-H', `host: web.${NS}.svc.cluster.local`, `http://${SERVICE_IP}/h2`])) as Record<string, string>
    expect(got).toMatchObject({proto: 'h2', path: '/h2', remote: '127.0.0.1'})
  })

  it('carries opaque TCP byte for byte, routed by the original destination alone', () => {
    const out = sh(inNs(CLIENT, asUser(APP_UID, [process.execPath, join(ROOT, 'test/arm64/tcp-client.mjs'), SERVICE_IP, String(PORTS.tcp), String(256 * 1024)])))
    const r = JSON.parse(out) as {sha?: string, reply?: string, error?: string}
    expect(r.error, logs()).toBeUndefined()
    expect(r.reply).toBe(`len=${256 * 1024} sha=${r.sha} remote=127.0.0.1`)
  })

  it('did all of it over mTLS between the two identities, with original destinations from the kernel', async () => {
    // Each redirected connection's original destination came from the kernel, through the
    // bridge: three on the client side (one per app connection), and on the server side at
    // least one per connection from the client proxy. (The tests above block the event loop:
    // the helper's lines are read here.)
    const answers = await eventually('the orig-dst helper\'s answers', () => {
      const ok = helper.out.split('\n').filter((l) => l === 'answered level=0 errno=0')
      return ok.length >= 5 ? ok : undefined
    }, {timeoutMs: 10_000, context: logs})
    expect(answers.length).toBeGreaterThanOrEqual(5)
    const client = metrics(CLIENT)
    const server = metrics(SERVER)
    const outbound = client.get('request_total')?.samples.filter((s) => s.labels.direction === 'outbound') ?? []
    expect(outbound.length, JSON.stringify(outbound)).toBeGreaterThan(0)
    for (const s of outbound) expect(s.labels).toMatchObject({tls: 'true', server_id: identityName('server', NS)})
    const inbound = server.get('request_total')?.samples.filter((s) => s.labels.direction === 'inbound') ?? []
    expect(inbound.length, JSON.stringify(inbound)).toBeGreaterThan(0)
    for (const s of inbound) expect(s.labels).toMatchObject({tls: 'true', client_id: identityName('client', NS)})
    // One HTTP/1.1 and one HTTP/2 request, each counted once on each side.
    expect([outbound, inbound].map((ss) => ss.reduce((n, s) => n + s.value, 0)), JSON.stringify({outbound, inbound})).toEqual([2, 2])
    const tcpIn = server.get('tcp_open_total')?.samples.filter((s) => s.labels.direction === 'inbound') ?? []
    expect(tcpIn.length).toBeGreaterThan(0)
    for (const s of tcpIn) expect(s.labels).toMatchObject({tls: 'true', client_id: identityName('client', NS)})
  })
})
