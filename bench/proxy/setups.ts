// The paths compared: direct to the app, the mesh proxy pair (outbound -> inbound; plaintext
// with static routes, and with mTLS as in a mesh: identities and discovery from a local-mode
// controller), an nginx pair in the same two slots (one worker each, upstream keep-alive) and a
// pair of minimal Node TCP relays (the floor of any proxy on this runtime), all on 127.0.0.1.
import {execFileSync, type ChildProcess} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {LOCAL_IDENTITY_FILES} from '../../src/control/identity/file-issuer.js'
import {ensureLocalIdentityDir} from '../../src/control/identity/local-dir.js'
import {issueLocalToken} from '../../src/control/identity/local-tokens.js'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../src/protocol/identity.js'
import {localControllerArgs, localProxyEnv, type LocalProxy} from '../../src/demo/plan.js'
import {parseMetrics} from '../../src/metrics/parse.js'
import {identityName} from '../../src/protocol/proxy-env.js'
import {freePort, start, stop, waitHttp} from './procs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FLAG_ENV: Record<string, string> = {
  '--inbound-listen-addr': 'MESH_PROXY_INBOUND_LISTEN_ADDR', '--outbound-listen-addr': 'MESH_PROXY_OUTBOUND_LISTEN_ADDR',
  '--admin-listen-addr': 'MESH_PROXY_ADMIN_LISTEN_ADDR', '--inbound-forward-addr': 'MESH_PROXY_INBOUND_FORWARD_ADDR',
  '--static-routes': 'MESH_PROXY_STATIC_ROUTES',
}
/** The app's authority: Service `bench` in namespace `bench` (what the mTLS pair's discovery serves). */
export const HOST = 'bench.bench.svc.cluster.local'
const NAMESPACE = 'bench'

export interface Setup {
  name: string
  port: number
  /** The proxies measured (CPU, RSS); empty for the direct path. */
  procs: {label: string, pid: number}[]
  /** The mTLS pair's certificates (the proxies' own, as certified), for the nginx pair with TLS. */
  certs?: TlsFiles
  close(): Promise<void>
}

/** PEM files: each proxy's certificate (with its chain) and key, the trust anchors, the server's identity name. */
export interface TlsFiles {
  client: {cert: string, key: string}
  server: {cert: string, key: string}
  anchors: string
  serverName: string
}

export function direct(backendPort: number): Setup {
  return {name: 'direct', port: backendPort, procs: [], close: async () => {}}
}

/**
 * Compiles the sources once into node_modules/.cache/mesh-bench-<checkout> (outside the tree,
 * next to the dependencies it imports) and bundles the sidecar (scripts/build-proxy.mjs), so the
 * proxies run as the image runs them, with the native addons (scripts/build-native.sh) beside
 * them as the image has them. One directory per checkout: worktrees that share node_modules do
 * not rebuild each other's proxies under a running bench.
 */
export function buildDist(): string {
  const base = join(ROOT, 'node_modules/.cache', `mesh-bench-${basename(ROOT)}`)
  rmSync(base, {recursive: true, force: true})
  mkdirSync(base, {recursive: true})
  copyFileSync(join(ROOT, 'package.json'), join(base, 'package.json'))
  execFileSync('sh', [join(ROOT, 'scripts/build-native.sh')], {stdio: 'ignore'})
  symlinkSync(join(ROOT, 'native'), join(base, 'native'))
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json'), '--outDir', join(base, 'dist')], {stdio: 'ignore'})
  } catch {
    // tsc emits even when some file elsewhere has a type error; the proxy's files are what count.
  }
  // The sidecar's bundle, dist/proxy/sidecar.cjs, which the image runs (sidecar.mjs loads it).
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-proxy.mjs'), join(base, 'dist')], {stdio: 'inherit'})
  return join(base, 'dist')
}

/**
 * node's own arguments, then sidecar.mjs and `dist`. MESH_BENCH_NODE_ARGS in the proxies' env
 * (space-separated) puts flags on node's command line, for experiments with flags NODE_OPTIONS
 * refuses and V8 reads only at start (--minor-ms, --single-threaded-gc ...).
 */
function sidecarArgv(dist: string, proxyEnv: NodeJS.ProcessEnv): string[] {
  return [...(proxyEnv.MESH_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(ROOT, 'bench/proxy/sidecar.mjs'), dist]
}

/** The mesh pair; `dist` runs compiled code (bench/proxy/sidecar.mjs), else `mesh proxy` via tsx. */
export async function meshPair(backendPort: number, dist?: string, proxyEnv: NodeJS.ProcessEnv = {}): Promise<Setup> {
  const [inPort, outPort, a1, a2, t1, t2, o1, i2] = await Promise.all(Array.from({length: 8}, freePort))
  const proxy = (args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    if (!dist) return start(process.execPath, ['--import', 'tsx', '--no-warnings', join(ROOT, 'bin/dev.js'), 'proxy', ...args], {MESH_PROXY_LOG_LEVEL: 'warn', ...proxyEnv, ...env})
    const vars: NodeJS.ProcessEnv = {MESH_PROXY_LOG_LEVEL: 'warn', MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '2', ...proxyEnv, ...env}
    for (let i = 0; i < args.length; i += 2) vars[FLAG_ENV[args[i]]] = args[i + 1]
    return start(process.execPath, sidecarArgv(dist, proxyEnv), vars)
  }
  const server = proxy(['--inbound-listen-addr', `127.0.0.1:${inPort}`, '--outbound-listen-addr', `127.0.0.1:${o1}`, '--admin-listen-addr', `127.0.0.1:${a1}`,
    '--inbound-forward-addr', `127.0.0.1:${backendPort}`], {MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${t1}`})
  const client = proxy(['--inbound-listen-addr', `127.0.0.1:${i2}`, '--outbound-listen-addr', `127.0.0.1:${outPort}`, '--admin-listen-addr', `127.0.0.1:${a2}`,
    '--static-routes', `${HOST}:80=127.0.0.1:${inPort}`], {MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${t2}`})
  await waitHttp(outPort, HOST, 60_000)
  return {
    name: 'mesh pair', port: outPort,
    procs: [{label: 'outbound', pid: client.pid!}, {label: 'inbound', pid: server.pid!}],
    close: () => stop([client, server]),
  }
}

/**
 * The mesh pair with mTLS between the proxies, as in a mesh: a local-mode controller (`mesh
 * controller --mode local`, through tsx: it is not measured) certifies both proxies and serves
 * the outbound proxy the inbound proxy as the endpoint of HOST, with its identity. `dist` as
 * for meshPair. Checked before it is measured: the outbound proxy's requests went over mTLS.
 */
export async function meshTlsPair(backendPort: number, dist?: string, proxyEnv: NodeJS.ProcessEnv = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-mtls-'))
  const [idPort, destPort, tapPort, inPort, outPort, a1, a2, t1, t2, o1, i2] = await Promise.all(Array.from({length: 11}, freePort))
  const id = await ensureLocalIdentityDir(join(dir, 'identity'))
  const registry = join(dir, 'registry.json')
  writeFileSync(registry, JSON.stringify({services: [{name: 'bench', namespace: NAMESPACE, ports: [{port: 80, endpoints: [
    {address: '127.0.0.1', port: inPort, serviceAccount: 'server', pod: 'server-0', deployment: 'server'}]}]}], pods: []}))
  const ctl = {identityPort: idPort, destinationPort: destPort, tapPort, identity: identityName(CONTROLLER_SERVICE_ACCOUNT, 'mesh-system')}
  const controller = start(process.execPath, ['--import', 'tsx', '--no-warnings', join(ROOT, 'bin/dev.js'), ...localControllerArgs(ctl, join(dir, 'identity'), registry)])
  const proxy = (sa: string, ports: LocalProxy['ports'], appPort?: number): ChildProcess => {
    const tokenFile = join(dir, `${sa}.token`)
    writeFileSync(tokenFile, issueLocalToken(sa, NAMESPACE, id.tokenSecret) + '\n', {mode: 0o600})
    return start(process.execPath, dist ? sidecarArgv(dist, proxyEnv) : ['--import', 'tsx', '--no-warnings', join(ROOT, 'bin/dev.js'), 'proxy'], {
      MESH_PROXY_LOG_LEVEL: 'warn', MESH_PROXY_SHUTDOWN_GRACE_PERIOD: '2', ...proxyEnv,
      ...localProxyEnv(ctl, {ports, appPort, identity: identityName(sa, NAMESPACE), identityDir: join(dir, `${sa}-id`), tokenFile, namespace: NAMESPACE}, id.anchorsPem),
    })
  }
  const server = proxy('server', {inbound: inPort, outbound: o1, admin: a1, tap: t1}, backendPort)
  const client = proxy('client', {inbound: i2, outbound: outPort, admin: a2, tap: t2})
  const close = async (): Promise<void> => {
    await stop([client, server, controller])
    rmSync(dir, {recursive: true, force: true})
  }
  try {
    await waitHttp(outPort, HOST, 60_000)
    await assertMtls(a2)
  } catch (error) {
    await close()
    throw error
  }
  const idFiles = (sa: string): {cert: string, key: string} => ({cert: join(dir, `${sa}-id`, 'crt.pem'), key: join(dir, `${sa}-id`, 'key.pem')})
  const certs: TlsFiles = {client: idFiles('client'), server: idFiles('server'), anchors: join(dir, 'identity', LOCAL_IDENTITY_FILES.anchor), serverName: identityName('server', NAMESPACE)}
  return {name: 'mesh pair, mTLS', port: outPort, procs: [{label: 'outbound', pid: client.pid!}, {label: 'inbound', pid: server.pid!}], certs, close}
}

/** The outbound proxy's requests went over mTLS (its metrics say tls="true"), or an error saying they did not. */
async function assertMtls(adminPort: number): Promise<void> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
  const outbound = parseMetrics(text).get('request_total')?.samples.filter((x) => x.labels.direction === 'outbound') ?? []
  const plain = outbound.filter((x) => x.labels.tls !== 'true')
  if (outbound.length === 0 || plain.length > 0) throw new Error(`the mTLS pair's requests did not go over mTLS: ${JSON.stringify(plain[0]?.labels ?? 'no outbound request_total')}`)
}

/** Two bench/proxy/relay.mjs in the proxies' slots. */
export async function nodeRelayPair(backendPort: number, env: Record<string, string> = {}): Promise<Setup> {
  const [inPort, outPort] = await Promise.all([freePort(), freePort()])
  const relay = join(ROOT, 'bench/proxy/relay.mjs')
  const inbound = start(process.execPath, [relay, String(inPort), String(backendPort)], env)
  const outbound = start(process.execPath, [relay, String(outPort), String(inPort)], env)
  await waitHttp(outPort, HOST)
  return {
    name: 'node relay', port: outPort,
    procs: [{label: 'outbound', pid: outbound.pid!}, {label: 'inbound', pid: inbound.pid!}],
    close: () => stop([outbound, inbound]),
  }
}

export function nginxPair(backendPort: number): Promise<Setup> {
  return nginxPairOf(backendPort)
}

/**
 * The nginx pair with mTLS between its two proxies, with the mesh pair's own certificates (copied
 * from `certs`): the inbound nginx terminates TLS and requires a client certificate from the
 * anchors; the outbound one presents the client proxy's certificate, verifies the server's name
 * and chain, reuses sessions and keeps its upstream connections (as the mesh pair's pool does).
 */
export function nginxTlsPair(backendPort: number, certs: TlsFiles): Promise<Setup> {
  return nginxPairOf(backendPort, certs)
}

async function nginxPairOf(backendPort: number, certs?: TlsFiles): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-nginx-'))
  const [inPort, outPort] = await Promise.all([freePort(), freePort()])
  const copy = (from: string, name: string): string => {
    copyFileSync(from, join(dir, name))
    return join(dir, name)
  }
  const tls = certs && {
    clientCert: copy(certs.client.cert, 'client.crt'), clientKey: copy(certs.client.key, 'client.key'),
    serverCert: copy(certs.server.cert, 'server.crt'), serverKey: copy(certs.server.key, 'server.key'), anchors: copy(certs.anchors, 'ca.crt'),
  }
  const conf = (name: string, listen: number, upstream: number, side: 'inbound' | 'outbound'): string => {
    const file = join(dir, `${name}.conf`)
    const listenTls = tls && side === 'inbound'
      ? ` ssl;\n    ssl_certificate ${tls.serverCert}; ssl_certificate_key ${tls.serverKey};\n    ssl_client_certificate ${tls.anchors}; ssl_verify_client on; ssl_verify_depth 3;\n    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:in:1m`
      : ''
    const upstreamTls = tls && side === 'outbound'
      ? ` proxy_ssl_certificate ${tls.clientCert}; proxy_ssl_certificate_key ${tls.clientKey};\n      proxy_ssl_trusted_certificate ${tls.anchors}; proxy_ssl_verify on; proxy_ssl_verify_depth 3;\n      proxy_ssl_name ${certs!.serverName}; proxy_ssl_server_name on; proxy_ssl_session_reuse on;`
      : ''
    writeFileSync(file, `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  upstream up { server 127.0.0.1:${upstream}; keepalive 128; }
  server {
    listen 127.0.0.1:${listen}${listenTls};
    location / { proxy_pass ${upstreamTls ? 'https' : 'http'}://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;${upstreamTls} }
  }
}
`)
    return file
  }
  const inbound = start('nginx', ['-p', dir, '-c', conf('inbound', inPort, backendPort, 'inbound')])
  const outbound = start('nginx', ['-p', dir, '-c', conf('outbound', outPort, inPort, 'outbound')])
  await waitHttp(outPort, HOST)
  return {
    name: tls ? 'nginx pair, mTLS' : 'nginx pair', port: outPort,
    procs: [{label: 'outbound', pid: outbound.pid!}, {label: 'inbound', pid: inbound.pid!}],
    close: async () => {
      await stop([outbound, inbound])
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
