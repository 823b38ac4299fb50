// PRIVILEGED: needs root, iproute2, iptables and setpriv; fails (never skips) without them.
// `mesh proxy` as a pod runs it (bin/run.js with no flags: the sidecar's bundle,
// dist/proxy/sidecar.cjs) behind `mesh proxy-init`'s rules, with no forward address: it must
// read every connection's original destination (SO_ORIGINAL_DST) itself. Two network namespaces
// joined by a veth play a pod (10.244.250.1) and a peer (10.244.250.2). Inbound, the peer calls
// the pod's app port and the proxy hands the request to the app on that port; outbound, the
// pod's app opens an opaque TCP connection to the peer and the proxy forwards it there.
// (netns.test.ts checks the rules with stand-in listeners; this is the real proxy.)
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {deleteNamespaces, inNs, joinedNamespaces} from '../helpers/netns.js'
import {ROOT} from '../helpers/run.js'
import {requireNative, requireRoot} from '../helpers/needs.js'

const id = randomBytes(3).toString('hex')
const POD = `mesh-sr-${id}-pod`
const PEER = `mesh-sr-${id}-peer`
const POD_IP = '10.244.250.1'
const PEER_IP = '10.244.250.2'
const PROXY_UID = 2102
const APP_UID = 1000
const children: {name: string, child: ChildProcess, out: string}[] = []

function sh(argv: string[]): string {
  return execFileSync(argv[0], argv.slice(1), {encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe']})
}
const asUser = (uid: number, argv: string[]): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...argv]
const logs = (): string => children.map((c) => `--- ${c.name} (exit ${c.child.exitCode})\n${c.out.slice(-3000)}`).join('\n')

function start(name: string, argv: string[], env: NodeJS.ProcessEnv = {}): void {
  const child = spawn(argv[0], argv.slice(1), {cwd: ROOT, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  const c = {name, child, out: ''}
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (c.out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (c.out += d))
  children.push(c)
}

// The pod's HTTP app (answers with its port and the path) and the peer's opaque TCP service
// (answers each line with "echo <line>").
const HTTP_APP = `require('node:http').createServer((q, s) => s.end('app 8080 ' + q.url)).listen(8080, '0.0.0.0', () => console.log('listening'))`
const TCP_PEER = `require('node:net').createServer((s) => s.on('data', (d) => s.end('echo ' + d))).listen(9000, '0.0.0.0', () => console.log('listening'))`

requireRoot('test/proxy-init/sidecar-redirect.test.ts', 'it creates network namespaces, veth pairs and iptables rules, and runs the proxy as another uid')
requireNative('test/proxy-init/sidecar-redirect.test.ts', 'original_dst', 'the proxy reads SO_ORIGINAL_DST through it')

beforeAll(async () => {
  for (const bin of ['ip', 'iptables-nft-restore', 'setpriv', 'curl']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} is required (apt-get install -y iproute2 iptables util-linux curl)`)
  }
  joinedNamespaces({ns: POD, dev: `sp${id}`, ip: POD_IP}, {ns: PEER, dev: `sq${id}`, ip: PEER_IP})
  sh(inNs(POD, [process.execPath, join(ROOT, 'bin/run.js'), 'proxy-init', '--proxy-uid', String(PROXY_UID)]))
  start('app', inNs(POD, asUser(APP_UID, [process.execPath, '-e', HTTP_APP])))
  start('peer', inNs(PEER, [process.execPath, '-e', TCP_PEER]))
  start('proxy', inNs(POD, asUser(PROXY_UID, [process.execPath, join(ROOT, 'bin/run.js'), 'proxy'])), {
    MESH_PROXY_INBOUND_LISTEN_ADDR: '0.0.0.0:4143', MESH_PROXY_OUTBOUND_LISTEN_ADDR: '127.0.0.1:4140',
    MESH_PROXY_ADMIN_LISTEN_ADDR: '0.0.0.0:4191', MESH_PROXY_TAP_LISTEN_ADDR: '0.0.0.0:4190',
    MESH_PROXY_LOG_LEVEL: 'debug', HOME: '/nonexistent',
  })
  await eventually('the app, the peer and the proxy', () => {
    if (children.some((c) => c.child.exitCode !== null)) throw new Error(`a process exited\n${logs()}`)
    const r = spawnSync('ip', ['netns', 'exec', POD, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'http://127.0.0.1:4191/ready'], {encoding: 'utf8'})
    return r.stdout === '200' && children.filter((c) => c.out.includes('listening')).length >= 2 ? true : undefined
  }, {timeoutMs: 60_000, intervalMs: 100, context: logs})
}, 120_000)

afterAll(() => {
  for (const c of children) c.child.kill('SIGKILL')
  deleteNamespaces(POD, PEER)
})

describe('mesh proxy (the sidecar\'s bundle) behind proxy-init, without a forward address', () => {
  it('inbound: a request redirected from the app\'s port reaches the app on that port', () => {
    const r = spawnSync('ip', inNs(PEER, ['curl', '-sS', '--max-time', '20', `http://${POD_IP}:8080/hello`]).slice(1), {encoding: 'utf8', timeout: 30_000})
    expect(r.stdout, `${r.stderr}\n${logs()}`).toBe('app 8080 /hello')
  })

  it('outbound: an opaque TCP connection from the app reaches its original destination', () => {
    const client = `const s = require('node:net').connect(9000, '${PEER_IP}', () => s.write('ping\\n')); let d = '';
      s.on('data', (c) => d += c).on('close', () => process.stdout.write(d)).on('error', (e) => process.stdout.write('error ' + e.code))`
    const r = spawnSync('ip', inNs(POD, asUser(APP_UID, [process.execPath, '-e', client])).slice(1), {encoding: 'utf8', timeout: 30_000})
    expect(r.stdout, `${r.stderr}\n${logs()}`).toBe('echo ping\n')
  })
})
