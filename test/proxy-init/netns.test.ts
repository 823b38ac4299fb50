// PRIVILEGED: needs root, iproute2 (`ip netns`), iptables and a C compiler; fails (never
// skips) without them. Two network namespaces joined by a veth pair play a pod (10.244.251.1)
// and a peer (10.244.251.2). `mesh proxy-init` writes its rules in the pod; listeners there
// stand in for the proxy (4143 inbound, 4140 outbound) and read SO_ORIGINAL_DST through the
// native addon. Everything is removed in afterAll, failed or not.
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {createInterface} from 'node:readline'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {deleteNamespaces, inNs, joinedNamespaces} from '../helpers/netns.js'
import {ROOT} from '../helpers/run.js'
import {requireNative, requireRoot} from '../helpers/needs.js'

const id = randomBytes(3).toString('hex')
const POD = `mesh-test-${id}-pod`
const PEER = `mesh-test-${id}-peer`
const POD_IP = '10.244.251.1'
const PEER_IP = '10.244.251.2'
const children: ChildProcess[] = []

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0], argv.slice(1), {encoding: 'utf8', input, timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe']})
}

/** A helper process in a namespace; resolves with its JSON lines once it prints "ready". */
async function listeners(ns: string, args: string[]): Promise<{lines: Record<string, unknown>[]}> {
  const argv = inNs(ns, [process.execPath, '--import', 'tsx', '--no-warnings', 'test/proxy-init/netns-helper.ts', ...args])
  const child = spawn(argv[0], argv.slice(1), {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const lines: Record<string, unknown>[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`helper in ${ns} not ready: ${stderr}`)), 20_000)
    createInterface({input: child.stdout!}).on('line', (line) => {
      if (line === 'ready') {
        clearTimeout(timer)
        resolve()
      } else lines.push(JSON.parse(line) as Record<string, unknown>)
    })
    child.on('exit', (code) => reject(new Error(`helper in ${ns} exited ${code}: ${stderr}`)))
  })
  return {lines}
}

/** Connects from a namespace (optionally as a uid) and returns what the listener answered. */
function connectFrom(ns: string, host: string, port: number, uid?: number): string {
  const script = `${uid !== undefined ? `process.setuid(${uid});` : ''}
    const s = require('net').connect(${port}, '${host}'); let d = '';
    s.on('data', (c) => d += c); s.on('end', () => { process.stdout.write(d.trim()); });
    s.on('error', (e) => { process.stdout.write('error:' + e.code); });
    setTimeout(() => { process.stdout.write('timeout'); process.exit(0) }, 5000).unref();`
  return sh(inNs(ns, [process.execPath, '-e', script]))
}

const waitFor = <T>(get: () => T | undefined, what: string): Promise<T> => eventually(what, get, {intervalMs: 20})

function proxyInit(extra: string[] = []): {status: number | null; stdout: string; stderr: string} {
  const argv = inNs(POD, [process.execPath, '--import', 'tsx', '--no-warnings', 'bin/dev.js', 'proxy-init', '--outbound-ports-to-ignore', '5432', ...extra])
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: {...process.env, NO_COLOR: '1'},
  })
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

requireRoot('test/proxy-init/netns.test.ts', 'it creates network namespaces, veth pairs and iptables rules')
requireNative('test/proxy-init/netns.test.ts', 'original_dst', 'the proxy reads SO_ORIGINAL_DST through it')

beforeAll(() => {
  for (const bin of ['ip', 'iptables-nft-restore', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} is required (apt-get install -y iproute2 iptables gcc)`)
  }
  sh(['sh', '-c', `BUILD_NATIVE_REQUIRED=1 '${ROOT}scripts/build-native.sh'`])
  joinedNamespaces({ns: POD, dev: `mp${id}`, ip: POD_IP}, {ns: PEER, dev: `mq${id}`, ip: PEER_IP})
}, 60_000)

afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
  deleteNamespaces(POD, PEER)
})

describe('proxy-init in a real network namespace', () => {
  it('applies its rules, and applying them again changes nothing', () => {
    const first = proxyInit()
    expect(first.stderr).toMatch(/applied 9 rules with iptables-nft/)
    expect(first.status).toBe(0)
    const before = sh(inNs(POD, ['iptables-nft-save', '-t', 'nat'])).split('\n').filter((l) => l.startsWith('-A'))
    const again = proxyInit()
    expect(again.status).toBe(0)
    expect(again.stderr).toMatch(/applied 7 rules/) // the two jumps are already there
    const after = sh(inNs(POD, ['iptables-nft-save', '-t', 'nat'])).split('\n').filter((l) => l.startsWith('-A'))
    expect(after).toEqual(before)
    expect(after.filter((l) => l.startsWith('-A PREROUTING'))).toHaveLength(1)
    expect(after.filter((l) => l.startsWith('-A OUTPUT'))).toHaveLength(1)
  }, 120_000)

  it('redirects, skips and reports original destinations as Linkerd does', async () => {
    // The pod: the proxy's two ports, an app port, the admin port, a loopback-only app.
    const pod = await listeners(POD, ['4143', '4140', '8080', '4191'])
    const podLo = await listeners(POD, ['7000', '--host=127.0.0.1'])
    // The peer: a service the pod calls, and a database on an ignored port.
    const peer = await listeners(PEER, ['80', '5432', '9999'])
    const seen = (l: {lines: Record<string, unknown>[]}, n: number) => waitFor(() => (l.lines.length >= n ? l.lines[n - 1] : undefined), `connection ${n}`)

    // Inbound from the peer to the app's port 8080: redirected to 4143, original 10.244.251.1:8080.
    expect(connectFrom(PEER, POD_IP, 8080)).toBe('4143')
    expect(await seen(pod, 1)).toMatchObject({listener: 4143, orig: {ip: POD_IP, port: 8080}})
    // Inbound to the admin port: not redirected, and not reported as redirected.
    expect(connectFrom(PEER, POD_IP, 4191)).toBe('4191')
    expect(await seen(pod, 2)).toMatchObject({listener: 4191, orig: null})
    // Outbound from the app to the peer: redirected to 4140, original 10.244.251.2:80.
    expect(connectFrom(POD, PEER_IP, 80)).toBe('4140')
    expect(await seen(pod, 3)).toMatchObject({listener: 4140, orig: {ip: PEER_IP, port: 80}})
    // Outbound to an ignored port goes straight to the peer.
    expect(connectFrom(POD, PEER_IP, 5432)).toBe('5432')
    expect(await seen(peer, 1)).toMatchObject({listener: 5432, orig: null})
    // The proxy's own uid goes straight out too.
    expect(connectFrom(POD, PEER_IP, 9999, 2102)).toBe('9999')
    expect(await seen(peer, 2)).toMatchObject({listener: 9999})
    // Loopback traffic is left alone.
    expect(connectFrom(POD, '127.0.0.1', 7000)).toBe('7000')
    expect(await seen(podLo, 1)).toMatchObject({listener: 7000, orig: null})
    // The proxy calling its own pod IP goes through the inbound side.
    expect(connectFrom(POD, POD_IP, 8080, 2102)).toBe('4143')
    expect(await seen(pod, 4)).toMatchObject({listener: 4143, orig: {ip: POD_IP, port: 8080}})
  }, 120_000)
})

describe('admin and tap refuse non-loopback peers (real peer address)', () => {
  it('answers /ready and /metrics to a non-loopback peer but 403 to /shutdown, /proxy-log-level and tap', async () => {
    // In the peer namespace (no proxy-init rules there), a client bound to the namespace's own
    // non-loopback address 10.244.251.2 is not localhost.
    await listeners(PEER, ['--admin', '--tap'])
    // curl's status code even when it then times out (a 101 keeps the connection open).
    const curl = (args: string[], from = PEER_IP) =>
      spawnSync('ip', inNs(PEER, ['curl', '-s', '--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', '--interface', from, ...args]).slice(1), {encoding: 'utf8', timeout: 10_000}).stdout
    expect(curl([`http://${PEER_IP}:4191/ready`])).toBe('200')
    expect(curl([`http://${PEER_IP}:4191/metrics`])).toBe('200')
    expect(curl(['-X', 'POST', `http://${PEER_IP}:4191/shutdown`])).toBe('403')
    expect(curl([`http://${PEER_IP}:4191/proxy-log-level`])).toBe('403')
    const ws = ['-H', 'connection: upgrade', '-H', 'upgrade: websocket', '-H', 'sec-websocket-version: 13', '-H', 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==']
    expect(curl([...ws, `http://${PEER_IP}:4190/`])).toBe('403')
    // The same from 127.0.0.1 is allowed.
    expect(curl(['http://127.0.0.1:4191/proxy-log-level'], '127.0.0.1')).toBe('200')
    expect(curl([...ws, 'http://127.0.0.1:4190/'], '127.0.0.1')).toBe('101')
  }, 120_000)
})
