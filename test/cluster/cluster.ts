/**
 * Test cluster harness: a real etcd and kube-apiserver on 127.0.0.1 (see DESIGN.md, "The test
 * cluster"). No controller-manager, scheduler or kubelet: create Pods, ServiceAccounts and
 * EndpointSlices directly.
 *
 *   const cluster = await startCluster()
 *   await cluster.kubectl(['get', 'ns'])
 *   await cluster.stop()
 *
 * Binaries come from MESH_CLUSTER_BIN (a directory holding kube-apiserver, kubectl, etcd) or
 * from `bash test/cluster/build` (builds once, then cached outside the repo).
 *
 * Everything a cluster leaves on disk (certificates, kubeconfig, logs) lives in one temp dir,
 * the etcd data under /dev/shm; both are removed by stop(), on process exit and on
 * SIGINT/SIGTERM. etcd and kube-apiserver run in their own process groups under a small
 * watchdog that kills them if this Node process dies without cleaning up (even on SIGKILL).
 */
import {spawn, spawnSync} from 'node:child_process'
import type {ChildProcess} from 'node:child_process'
import {generateKeyPair, randomBytes} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import forge from 'node-forge'
import {freePort} from '../helpers/ports.js'

const here = path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------------------------------------
// PKI (node-forge builds the certificates, RSA only; Node's crypto generates the keys fast)
// ---------------------------------------------------------------------------------------------

export interface KeyPair {
  /** PKCS#1 "RSA PRIVATE KEY" PEM */
  keyPem: string
  /** SPKI "PUBLIC KEY" PEM */
  publicKeyPem: string
}

export interface CertificateAuthority extends KeyPair {
  certPem: string
}

export interface IssuedCertificate extends KeyPair {
  certPem: string
}

export interface IssueOptions {
  commonName: string
  /** Subject O= entries (for client certs: Kubernetes groups). */
  organizations?: string[]
  dnsNames?: string[]
  ips?: string[]
  /** Extended key usages; default ['serverAuth'] when dnsNames/ips are given, else ['clientAuth']. */
  usages?: Array<'serverAuth' | 'clientAuth'>
  /** Validity in days (default 365). */
  days?: number
  /** Use this key pair instead of generating one. */
  keys?: KeyPair
}

const generateKeyPairAsync = promisify(generateKeyPair)

export async function generateRsaKeyPair(bits = 2048): Promise<KeyPair> {
  const {privateKey, publicKey} = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: {type: 'spki', format: 'pem'},
    privateKeyEncoding: {type: 'pkcs1', format: 'pem'},
  })
  return {keyPem: privateKey, publicKeyPem: publicKey}
}

function serialNumber(): string {
  // Positive, 16 bytes.
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString('hex')
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000)
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000)
}

export async function createCertificateAuthority(commonName = 'mesh-test-ca', keyPair?: KeyPair): Promise<CertificateAuthority> {
  const keys = keyPair ?? (await generateRsaKeyPair())
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem)
  cert.serialNumber = serialNumber()
  validity(cert, 3650)
  const subject = [{name: 'commonName', value: commonName}]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    {name: 'basicConstraints', cA: true, critical: true},
    {name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true},
    {name: 'subjectKeyIdentifier'},
  ])
  cert.sign(forge.pki.privateKeyFromPem(keys.keyPem), forge.md.sha256.create())
  return {...keys, certPem: forge.pki.certificateToPem(cert)}
}

export async function issueCertificate(ca: CertificateAuthority, opts: IssueOptions): Promise<IssuedCertificate> {
  const keys = opts.keys ?? (await generateRsaKeyPair())
  const caCert = forge.pki.certificateFromPem(ca.certPem)
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem)
  cert.serialNumber = serialNumber()
  validity(cert, opts.days ?? 365)
  cert.setSubject([
    {name: 'commonName', value: opts.commonName},
    ...(opts.organizations ?? []).map((o) => ({name: 'organizationName', value: o})),
  ])
  cert.setIssuer(caCert.subject.attributes)
  const altNames = [
    ...(opts.dnsNames ?? []).map((value) => ({type: 2, value})),
    ...(opts.ips ?? []).map((ip) => ({type: 7, ip})),
  ]
  const usages = opts.usages ?? (altNames.length > 0 ? ['serverAuth'] : ['clientAuth'])
  const extensions: unknown[] = [
    {name: 'basicConstraints', cA: false, critical: true},
    {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
    {name: 'extKeyUsage', serverAuth: usages.includes('serverAuth'), clientAuth: usages.includes('clientAuth')},
    {name: 'subjectKeyIdentifier'},
    {name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes()},
  ]
  if (altNames.length > 0) extensions.push({name: 'subjectAltName', altNames})
  cert.setExtensions(extensions as object[])
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create())
  return {...keys, certPem: forge.pki.certificateToPem(cert)}
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

const BINARIES = ['kube-apiserver', 'kubectl', 'etcd'] as const

/**
 * The directory holding kube-apiserver, kubectl and etcd: MESH_CLUSTER_BIN when set, else the
 * last stdout line of `bash test/cluster/build` (which builds them once and caches them).
 */
export function findBinaries(opts: {quiet?: boolean} = {}): string {
  const fromEnv = process.env['MESH_CLUSTER_BIN']
  if (fromEnv) {
    const missing = BINARIES.filter((b) => !existsSync(path.join(fromEnv, b)))
    if (missing.length > 0) {
      throw new Error(`MESH_CLUSTER_BIN=${fromEnv} lacks ${missing.join(', ')} (run: bash test/cluster/build)`)
    }
    return fromEnv
  }
  const script = path.join(here, 'build')
  const res = spawnSync('bash', [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', opts.quiet ? 'pipe' : 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  })
  if (res.error) throw new Error(`cannot run ${script}: ${res.error.message}`)
  if (res.status !== 0) {
    throw new Error(`${script} failed (exit ${res.status})${opts.quiet ? `:\n${tail(res.stderr ?? '', 40)}` : ''}`)
  }
  const lines = res.stdout.trim().split('\n')
  const dir = lines[lines.length - 1]!.trim()
  if (!dir || !existsSync(path.join(dir, 'kube-apiserver'))) throw new Error(`${script} printed no bin dir (got '${dir}')`)
  process.env['MESH_CLUSTER_BIN'] = dir
  return dir
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

export interface StartClusterOptions {
  /** Directory with kube-apiserver, kubectl, etcd (default: findBinaries()). */
  binDir?: string
  /** Max time to wait for etcd and the API server to be ready (default 120 s). */
  readyTimeoutMs?: number
  /** Extra kube-apiserver flags (`--name=value`), appended after the defaults. */
  apiserverFlags?: string[]
  /**
   * Keep the ServiceAccount admission plugin on (default false). Without a controller-manager
   * no namespace gets its `default` ServiceAccount, and with the plugin on every Pod that names
   * no existing ServiceAccount would be rejected; with it on, create the ServiceAccount first.
   */
  serviceAccountAdmission?: boolean
  /** Print progress to stderr (default true). */
  verbose?: boolean
}

export interface KubectlOptions {
  stdin?: string
  /** kubeconfig context: 'admin' (default) or 'restricted'. */
  context?: string
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFailure?: boolean
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
}

export interface KubectlResult {
  stdout: string
  stderr: string
  code: number
}

/** The serialisable part of a cluster: what global-setup hands to test workers. */
export interface ClusterInfo {
  /** kubeconfig with contexts 'admin' (current; client cert, system:masters) and 'restricted' (token). */
  kubeconfigPath: string
  /** https://127.0.0.1:<port> */
  server: string
  caPem: string
  /** The cluster CA key: lets tests issue certificates the API server trusts (webhooks, clients). */
  caKeyPem: string
  adminCertPem: string
  adminKeyPem: string
  /** Static bearer tokens (token-auth file): admin is in system:masters, restricted has no rights until bound. */
  tokens: {admin: string; restricted: string}
  /** User names for the tokens. */
  users: {admin: string; restricted: string}
  /** ServiceAccount token issuer. */
  serviceAccountIssuer: string
  binDir: string
  /** Temp dir with certs, kubeconfig and logs (etcd.log, kube-apiserver.log). */
  dir: string
  etcdEndpoint: string
}

export interface Cluster extends ClusterInfo {
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>
  /** Last lines of the API server and etcd logs. */
  logs(lines?: number): string
  stop(): Promise<void>
}

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local'
export const RESTRICTED_USER = 'restricted-user'
export const ADMIN_USER = 'mesh-admin'

interface Proc {
  name: string
  child: ChildProcess
  logPath: string
  exited: boolean
  exitCode: number | null
  signal: NodeJS.Signals | null
}

interface Live {
  procs: Proc[]
  dirs: string[]
  stopped: boolean
}

const live = new Set<Live>()
let handlersInstalled = false

function killGroup(proc: Proc, signal: NodeJS.Signals): void {
  const pid = proc.child.pid
  if (pid === undefined || proc.exited) return
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      proc.child.kill(signal)
    } catch {
      // already gone
    }
  }
}

/** Synchronous last-resort cleanup (process exit / signals). */
function cleanupSync(l: Live): void {
  if (l.stopped) return
  l.stopped = true
  for (const p of l.procs) killGroup(p, 'SIGKILL')
  for (const d of l.dirs) rmSync(d, {recursive: true, force: true})
  live.delete(l)
}

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', () => {
    for (const l of [...live]) cleanupSync(l)
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const l of [...live]) cleanupSync(l)
      // If nobody else handles the signal, die of it as we would have without this handler.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler)
        process.kill(process.pid, sig)
      }
    }
    process.on(sig, handler)
  }
}

/**
 * Runs `bin args` in its own process group under a bash watchdog: the watchdog reads its stdin
 * (a pipe from this process) and kills the child group when it hits EOF, i.e. when this Node
 * process is gone, however it died.
 */
function startProcess(name: string, bin: string, args: string[], logPath: string, env: NodeJS.ProcessEnv): Proc {
  const fd = openSync(logPath, 'a')
  const script = [
    'exec 3<&0',
    '"$@" </dev/null &',
    'child=$!',
    '{ cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null; sleep 5; kill -KILL "$child" 2>/dev/null; } &',
    'wait "$child"',
  ].join('\n')
  const child = spawn('bash', ['-c', script, name, bin, ...args], {
    detached: true,
    stdio: ['pipe', fd, fd],
    env,
  })
  closeSync(fd)
  const proc: Proc = {name, child, logPath, exited: false, exitCode: null, signal: null}
  child.on('exit', (code, signal) => {
    proc.exited = true
    proc.exitCode = code
    proc.signal = signal
  })
  child.on('error', () => {
    proc.exited = true
  })
  child.stdin?.on('error', () => {})
  // Do not keep the event loop alive for the cluster's sake.
  child.unref()
  ;(child.stdin as unknown as {unref?: () => void} | null)?.unref?.()
  return proc
}

async function stopProcess(proc: Proc, graceMs = 5000): Promise<void> {
  if (!proc.exited) {
    // The child is unref'd: these (ref'd) timers keep the event loop alive while it stops.
    const waitExit = (ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        if (proc.exited) return resolve(true)
        const timer = setTimeout(() => {
          proc.child.removeListener('exit', onExit)
          resolve(false)
        }, ms)
        const onExit = (): void => {
          clearTimeout(timer)
          resolve(true)
        }
        proc.child.once('exit', onExit)
      })
    killGroup(proc, 'SIGTERM')
    if (!(await waitExit(graceMs))) {
      killGroup(proc, 'SIGKILL')
      await waitExit(2000)
    }
  }
  // The group may still hold the watchdog (cat, sleep): clear it.
  try {
    process.kill(-proc.child.pid!, 'SIGKILL')
  } catch {
    // gone
  }
}

/** Removes mesh-cluster-<pid>-* / mesh-etcd-<pid>-* dirs whose owning process is gone. */
function removeStaleDirs(parents: string[]): void {
  for (const parent of parents) {
    let names: string[]
    try {
      names = readdirSync(parent)
    } catch {
      continue
    }
    for (const name of names) {
      const m = /^mesh-(?:cluster|etcd)-(\d+)-[A-Za-z0-9]{6}$/.exec(name)
      if (!m || Number(m[1]) === process.pid) continue
      try {
        process.kill(Number(m[1]), 0)
        continue // owner alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue
      }
      rmSync(path.join(parent, name), {recursive: true, force: true})
    }
  }
}

export {freePort}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines - 1).join('\n')
}

function tailFile(file: string, lines: number): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines)
  } catch {
    return '(no log)'
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function httpGet(
  url: string,
  tls?: {ca: string; cert: string; key: string},
): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? https : http
    const req = mod.request(
      u,
      {method: 'GET', timeout: 5000, agent: false, ...(tls ? {ca: tls.ca, cert: tls.cert, key: tls.key} : {})},
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

function kubeconfigYaml(info: {server: string; caPem: string; adminCertPem: string; adminKeyPem: string; restrictedToken: string}): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  // JSON is valid YAML and needs no YAML library.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'mesh-test', cluster: {server: info.server, 'certificate-authority-data': b64(info.caPem)}}],
      users: [
        {
          name: 'admin',
          user: {'client-certificate-data': b64(info.adminCertPem), 'client-key-data': b64(info.adminKeyPem)},
        },
        {name: RESTRICTED_USER, user: {token: info.restrictedToken}},
      ],
      contexts: [
        {name: 'admin', context: {cluster: 'mesh-test', user: 'admin', namespace: 'default'}},
        {name: 'restricted', context: {cluster: 'mesh-test', user: RESTRICTED_USER, namespace: 'default'}},
      ],
      'current-context': 'admin',
      preferences: {},
    },
    null,
    2,
  )
}

/** Environment for child processes: no proxies for loopback traffic (webhook calls, etcd). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env}
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy']) delete env[k]
  env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost,::1'
  return env
}

export function runKubectl(
  info: Pick<ClusterInfo, 'binDir' | 'kubeconfigPath'>,
  args: string[],
  opts: KubectlOptions = {},
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const fullArgs = ['--kubeconfig', info.kubeconfigPath, ...(opts.context ? ['--context', opts.context] : []), ...args]
    const child = spawn(path.join(info.binDir, 'kubectl'), fullArgs, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {...childEnv(), ...opts.env},
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const res = {stdout, stderr, code: code ?? (signal ? 128 : 1)}
      if (res.code !== 0 && !opts.allowFailure) {
        reject(new Error(`kubectl ${args.join(' ')} exited ${res.code}${signal ? ` (${signal})` : ''}:\n${stderr || stdout}`))
      } else {
        resolve(res)
      }
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.stdin ?? '')
  })
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const verbose = opts.verbose ?? true
  const t0 = Date.now()
  const say = (msg: string): void => {
    if (verbose) process.stderr.write(`[test-cluster] ${msg} (+${((Date.now() - t0) / 1000).toFixed(1)}s)\n`)
  }
  const binDir = opts.binDir ?? findBinaries({quiet: !verbose})
  say(`binaries in ${binDir}`)
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000

  installHandlers()
  const l: Live = {procs: [], dirs: [], stopped: false}
  live.add(l)

  const shm = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  removeStaleDirs([os.tmpdir(), shm])
  // The owner's pid in the names lets a later run remove what a SIGKILLed one left behind.
  const dir = mkdtempSync(path.join(os.tmpdir(), `mesh-cluster-${process.pid}-`))
  l.dirs.push(dir)
  const etcdData = mkdtempSync(path.join(shm, `mesh-etcd-${process.pid}-`))
  l.dirs.push(etcdData)

  const fail = async (msg: string): Promise<never> => {
    const logs = l.procs.map((p) => `--- ${p.name} (${p.logPath}) ---\n${tailFile(p.logPath, 40)}`).join('\n')
    for (const p of l.procs) await stopProcess(p, 2000)
    cleanupSync(l)
    throw new Error(`test cluster: ${msg}\n${logs}`)
  }

  try {
    // PKI
    // RSA key generation runs on libuv's thread pool: all four keys at once.
    const [caKeys, sa, servingKeys, adminKeys] = await Promise.all([1, 2, 3, 4].map(() => generateRsaKeyPair()))
    const ca = await createCertificateAuthority('mesh-test-ca', caKeys)
    const [serving, admin] = await Promise.all([
      issueCertificate(ca, {
        commonName: 'kube-apiserver',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ips: ['127.0.0.1', '10.96.0.1'],
        usages: ['serverAuth'],
        keys: servingKeys,
      }),
      issueCertificate(ca, {commonName: ADMIN_USER, organizations: ['system:masters'], usages: ['clientAuth'], keys: adminKeys}),
    ])
    const tokens = {admin: randomBytes(24).toString('hex'), restricted: randomBytes(24).toString('hex')}
    const pki = path.join(dir, 'pki')
    mkdirSync(pki, {mode: 0o700})
    const files: Record<string, string> = {
      'ca.crt': ca.certPem,
      'ca.key': ca.keyPem,
      'apiserver.crt': serving.certPem,
      'apiserver.key': serving.keyPem,
      'admin.crt': admin.certPem,
      'admin.key': admin.keyPem,
      'sa.key': sa.keyPem,
      'sa.pub': sa.publicKeyPem,
      // token,user,uid,"group1,group2"
      'tokens.csv':
        `${tokens.admin},${ADMIN_USER},uid-mesh-admin,"system:masters"\n` +
        `${tokens.restricted},${RESTRICTED_USER},uid-restricted-user,"mesh:restricted"\n`,
    }
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(pki, name), content, {mode: 0o600})
    const f = (name: string): string => path.join(pki, name)
    say('certificates ready')

    const env = childEnv()
    const tls = {ca: ca.certPem, cert: admin.certPem, key: admin.keyPem}

    // etcd and kube-apiserver; a port grabbed by someone else between freePort() and bind
    // makes a start fail: retry with new ports.
    let server = ''
    let etcdEndpoint = ''
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort, securePort] = await Promise.all([freePort(), freePort(), freePort()])
      if (new Set([clientPort, peerPort, securePort]).size < 3) continue
      etcdEndpoint = `http://127.0.0.1:${clientPort}`
      const peer = `http://127.0.0.1:${peerPort}`
      rmSync(etcdData, {recursive: true, force: true})
      mkdirSync(etcdData, {mode: 0o700})
      const etcd = startProcess(
        'etcd',
        path.join(binDir, 'etcd'),
        [
          '--name=mesh-test',
          `--data-dir=${etcdData}`,
          `--listen-client-urls=${etcdEndpoint}`,
          `--advertise-client-urls=${etcdEndpoint}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=mesh-test=${peer}`,
          '--initial-cluster-state=new',
          '--unsafe-no-fsync=true',
          '--log-level=warn',
          '--quota-backend-bytes=1073741824',
        ],
        path.join(dir, 'etcd.log'),
        env,
      )
      l.procs.push(etcd)
      const deadline = Date.now() + readyTimeoutMs
      let etcdOk = false
      while (Date.now() < deadline && !etcd.exited) {
        try {
          const res = await httpGet(`${etcdEndpoint}/health`)
          if (res.status === 200 && res.body.includes('true')) {
            etcdOk = true
            break
          }
        } catch {
          // not yet
        }
        await sleep(100)
      }
      if (!etcdOk) {
        const log = tailFile(etcd.logPath, 40)
        if (etcd.exited && /address already in use/.test(log) && attempt < 3) {
          l.procs.splice(l.procs.indexOf(etcd), 1)
          await stopProcess(etcd, 1000)
          continue
        }
        return await fail(etcd.exited ? `etcd exited (${etcd.exitCode ?? etcd.signal})` : `etcd not healthy after ${readyTimeoutMs} ms`)
      }
      say(`etcd healthy on ${etcdEndpoint}`)

      server = `https://127.0.0.1:${securePort}`
      const admissionFlags = opts.serviceAccountAdmission ? [] : ['--disable-admission-plugins=ServiceAccount']
      const apiserver = startProcess(
        'kube-apiserver',
        path.join(binDir, 'kube-apiserver'),
        [
          `--etcd-servers=${etcdEndpoint}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${securePort}`,
          '--advertise-address=127.0.0.1',
          `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
          `--tls-cert-file=${f('apiserver.crt')}`,
          `--tls-private-key-file=${f('apiserver.key')}`,
          `--client-ca-file=${f('ca.crt')}`,
          `--token-auth-file=${f('tokens.csv')}`,
          '--authorization-mode=Node,RBAC',
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${f('sa.pub')}`,
          `--service-account-signing-key-file=${f('sa.key')}`,
          `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          '--endpoint-reconciler-type=none',
          '--allow-privileged=true',
          // Admission webhooks: MutatingAdmissionWebhook and ValidatingAdmissionWebhook are on
          // by default; they call clientConfig.url directly (no proxy, see childEnv()).
          ...admissionFlags,
          '--profiling=false',
          '--watch-cache=true',
          '--event-ttl=10m',
          '--v=1',
          ...(opts.apiserverFlags ?? []),
        ],
        path.join(dir, 'kube-apiserver.log'),
        env,
      )
      l.procs.push(apiserver)
      let ready = false
      let last = ''
      while (Date.now() < deadline && !apiserver.exited) {
        try {
          const res = await httpGet(`${server}/readyz`, tls)
          if (res.status === 200) {
            ready = true
            break
          }
          last = `${res.status} ${res.body.slice(0, 2000)}`
        } catch (err) {
          last = (err as Error).message
        }
        await sleep(200)
      }
      if (!ready) {
        const log = tailFile(apiserver.logPath, 40)
        if (apiserver.exited && /address already in use/.test(log) && attempt < 3) {
          for (const p of [apiserver, etcd]) {
            l.procs.splice(l.procs.indexOf(p), 1)
            await stopProcess(p, 2000)
          }
          continue
        }
        return await fail(
          apiserver.exited
            ? `kube-apiserver exited (${apiserver.exitCode ?? apiserver.signal})`
            : `kube-apiserver not ready after ${readyTimeoutMs} ms; last /readyz: ${last}`,
        )
      }
      // The default namespace is created by a post-start controller: wait for it.
      while (Date.now() < deadline) {
        const res = await httpGet(`${server}/api/v1/namespaces/default`, tls).catch(() => ({status: 0, body: ''}))
        if (res.status === 200) break
        await sleep(200)
      }
      break
    }
    say(`kube-apiserver ready on ${server}`)

    const kubeconfigPath = path.join(dir, 'kubeconfig')
    writeFileSync(
      kubeconfigPath,
      kubeconfigYaml({server, caPem: ca.certPem, adminCertPem: admin.certPem, adminKeyPem: admin.keyPem, restrictedToken: tokens.restricted}),
      {mode: 0o600},
    )

    const info: ClusterInfo = {
      kubeconfigPath,
      server,
      caPem: ca.certPem,
      caKeyPem: ca.keyPem,
      adminCertPem: admin.certPem,
      adminKeyPem: admin.keyPem,
      tokens,
      users: {admin: ADMIN_USER, restricted: RESTRICTED_USER},
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      binDir,
      dir,
      etcdEndpoint,
    }
    return {
      ...info,
      kubectl: (args, kopts) => runKubectl(info, args, kopts),
      logs: (lines = 40) => l.procs.map((p) => `--- ${p.name} ---\n${tailFile(p.logPath, lines)}`).join('\n'),
      stop: async () => {
        if (l.stopped) return
        // API server first (it needs etcd to shut down cleanly), then etcd.
        for (const p of [...l.procs].reverse()) await stopProcess(p)
        cleanupSync(l)
      },
    }
  } catch (err) {
    if (!l.stopped) {
      for (const p of l.procs) await stopProcess(p, 2000)
      cleanupSync(l)
    }
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// Sharing one cluster between vitest's globalSetup and the test workers
// ---------------------------------------------------------------------------------------------

/** Env var holding the path of the JSON ClusterInfo written by global-setup. */
export const CLUSTER_INFO_ENV = 'MESH_TEST_CLUSTER'
/** Env var holding the kubeconfig path (admin context current). */
export const KUBECONFIG_ENV = 'MESH_TEST_KUBECONFIG'

export function writeClusterInfo(cluster: ClusterInfo): string {
  const file = path.join(cluster.dir, 'cluster.json')
  const {kubeconfigPath, server, caPem, caKeyPem, adminCertPem, adminKeyPem, tokens, users, serviceAccountIssuer, binDir, dir, etcdEndpoint} =
    cluster
  const info: ClusterInfo = {kubeconfigPath, server, caPem, caKeyPem, adminCertPem, adminKeyPem, tokens, users, serviceAccountIssuer, binDir, dir, etcdEndpoint}
  writeFileSync(file, JSON.stringify(info, null, 2), {mode: 0o600})
  return file
}

/**
 * In a test worker: the cluster started by test/cluster/global-setup.ts (via MESH_TEST_CLUSTER).
 * Its stop() does nothing: global-setup owns the cluster.
 */
export function testCluster(): Omit<Cluster, 'logs'> & {logs(lines?: number): string} {
  const file = process.env[CLUSTER_INFO_ENV]
  if (!file) {
    throw new Error(`${CLUSTER_INFO_ENV} is not set: run with vitest.cluster.config.ts (globalSetup test/cluster/global-setup.ts)`)
  }
  const info = JSON.parse(readFileSync(file, 'utf8')) as ClusterInfo
  return {
    ...info,
    kubectl: (args, kopts) => runKubectl(info, args, kopts),
    logs: (lines = 40) =>
      ['etcd', 'kube-apiserver'].map((n) => `--- ${n} ---\n${tailFile(path.join(info.dir, `${n}.log`), lines)}`).join('\n'),
    stop: async () => {},
  }
}
