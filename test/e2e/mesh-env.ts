// The journey's fixtures: the mesh CLI run in process against the test cluster, `kubectl`, the
// controller as a host process, and the apps' manifests.
import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {testCluster} from '../cluster/cluster.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh, spawnMesh, type RunResult} from '../helpers/run.js'
import {ROOT} from './runner/containers.js'
import {HOST_IP} from './runner/net.js'
import {tailLog} from './runner/procs.js'
import {transcript} from './transcript.js'

export const cluster = testCluster()

/** `mesh <args>` in process against the test cluster; recorded in the step's transcript. */
export function mesh(...args: string[]): Promise<RunResult> {
  return transcript.track(`mesh ${args.join(' ')}`, async () => {
    const r = await runMesh([...args, '--kubeconfig', cluster.kubeconfigPath])
    return {...r, code: r.exitCode}
  })
}

/** Fails with the command's output: what a failing step prints. */
export function expectOk(r: RunResult, what: string): string {
  if (r.exitCode !== 0) throw new Error(`${what} exited ${r.exitCode}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`)
  return r.stdout
}

export async function kubectl(args: string[], stdin?: string, context = 'admin'): Promise<string> {
  const what = `kubectl --context ${context} ${args.join(' ')}${stdin === undefined ? '' : ` (stdin: ${stdin.length} chars)`}`
  const r = await transcript.track(what, () => cluster.kubectl(args, {stdin, allowFailure: true, context}))
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}

/** `mesh check` until it passes (60 s), then its result must be a pass: what a failing one printed otherwise. */
export async function meshCheckPasses(): Promise<void> {
  let check = await mesh('check')
  if (check.exitCode !== 0) {
    await eventually('mesh check to pass', async () => {
      check = await mesh('check')
      return check.exitCode === 0 ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000}).catch(() => undefined)
  }
  expectOk(check, 'mesh check')
}

export interface HostController {
  child: ChildProcess
  logPath: string
  log(lines?: number): string
  stop(): Promise<void>
}

/**
 * Lifetime of the proxies' certificates in the journey: the shortest the controller allows, so
 * every proxy renews (at 70 %, every 42 s) during the journey and step 6b sees renewals under load.
 */
export const LEAF_LIFETIME = '1m'

/**
 * `mesh controller` as a process on the host, listening on the bridge's host address: the pods
 * reach it as mesh-identity/mesh-dst.mesh-system (their hosts files map those names there).
 * `extraArgs` as the installed Deployment would pass them (e.g. the issuer Secret's scheme).
 */
export async function startHostController(dir: string, extraArgs: string[] = []): Promise<HostController> {
  const logPath = path.join(dir, 'controller.log')
  const fd = openSync(logPath, 'a')
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', path.join(ROOT, 'bin/dev.js'), 'controller',
    '--kubeconfig', cluster.kubeconfigPath, '--listen-host', HOST_IP, '--log-level', 'debug', '--leaf-lifetime', LEAF_LIFETIME, ...extraArgs], {cwd: ROOT, stdio: ['ignore', fd, fd]})
  closeSync(fd)
  let exited = false
  child.on('exit', () => (exited = true))
  const c: HostController = {
    child, logPath,
    log: (lines = 40) => tailLog(logPath, lines),
    stop: async () => {
      if (exited) return
      child.kill('SIGTERM')
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))])
      if (!exited) child.kill('SIGKILL')
    },
  }
  const end = Date.now() + 60_000
  while (Date.now() < end) {
    if (/controller ready/.test(c.log(200))) return c
    if (exited) break
    await new Promise((r) => setTimeout(r, 200))
  }
  await c.stop()
  throw new Error(`mesh controller did not become ready:\n${c.log(60)}`)
}


/** A ServiceAccount and a Deployment of it; the readiness probe is tcpSocket, or httpGet on `httpProbe`. */
export function deployment(ns: string, name: string, image: string, port: number, opts: {replicas?: number; annotations?: Record<string, string>; httpProbe?: string} = {}): string {
  return `apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}, namespace: ${ns}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${opts.replicas ?? 1}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}}
      annotations: ${JSON.stringify(opts.annotations ?? {})}
    spec:
      serviceAccountName: ${name}
      containers:
      - name: ${name}
        image: ${image}
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}, {name: PORT, value: "${port}"}]
        ports: [{name: main, containerPort: ${port}}]
        readinessProbe: ${opts.httpProbe ? `{httpGet: {path: ${opts.httpProbe}, port: main}, periodSeconds: 1}` : `{tcpSocket: {port: ${port}}, periodSeconds: 1}`}
`
}

export function service(ns: string, name: string, port: number, targetPort: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {app: ${name}}
  ports: [{name: main, port: ${port}, targetPort: ${targetPort}}]
`
}

/** The three-service app (HTTP/1.1, gRPC, opaque TCP) plus an idle client, for `mesh inject`. */
export function shopYaml(ns: string): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`,
    deployment(ns, 'web', 'mesh-e2e/http-echo:1', 8080, {replicas: 2}), service(ns, 'web', 80, 8080),
    deployment(ns, 'grpc', 'mesh-e2e/grpc-echo:1', 9090), service(ns, 'grpc', 9090, 9090),
    deployment(ns, 'echo', 'mesh-e2e/tcp-echo:1', 9000, {annotations: {'config.mesh.dev/opaque-ports': '9000'}}), service(ns, 'echo', 9000, 9000),
    deployment(ns, 'client', 'mesh-e2e/tcp-echo:1', 9009),
  ].join('---\n')
}

/** The second app: meshed by its namespace's annotation and the webhook. */
export function booksYaml(ns: string): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, annotations: {mesh.dev/inject: enabled}}\n`,
    deployment(ns, 'books', 'mesh-e2e/http-echo:1', 8080), service(ns, 'books', 80, 8080),
  ].join('---\n')
}

/** The canary of web (routes steps): a second backend in shop, for `mesh inject`. */
export function canaryYaml(ns: string): string {
  return [deployment(ns, 'web-canary', 'mesh-e2e/http-echo:1', 8080), service(ns, 'web-canary', 80, 8080)].join('---\n')
}

/** A plain (never meshed) app. */
export function plainYaml(ns: string): string {
  return [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`, deployment(ns, 'legacy', 'mesh-e2e/http-echo:1', 8080), service(ns, 'legacy', 80, 8080)].join('---\n')
}

/**
 * The controller runs on the host, not in a pod: like a kubelet mirrors a static pod, the
 * harness creates a Pod from the mesh-controller Deployment's template and marks it Running and
 * Ready at the host's bridge address, so `mesh check` sees the control plane it talks to.
 */
export async function mirrorControllerPod(): Promise<void> {
  const d = JSON.parse(await kubectl(['get', 'deployment', 'mesh-controller', '-n', 'mesh-system', '-o', 'json'])) as Record<string, any>
  const t = d.spec.template
  const pod = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'mesh-controller-host', namespace: 'mesh-system', labels: t.metadata?.labels, annotations: {'mesh.dev/e2e': 'the controller process on the host'}}, spec: t.spec}
  await kubectl(['apply', '-f', '-'], JSON.stringify(pod))
  const now = new Date().toISOString()
  const cond = (type: string) => ({type, status: 'True', lastTransitionTime: now})
  const status = {
    phase: 'Running', podIP: HOST_IP, podIPs: [{ip: HOST_IP}], hostIP: HOST_IP, startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(cond),
    containerStatuses: (t.spec.containers as Array<{name: string; image: string}>).map((c) => ({name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: 0, state: {running: {startedAt: now}}})),
  }
  await kubectl(['patch', 'pod', 'mesh-controller-host', '-n', 'mesh-system', '--subresource=status', '--type=merge', '-p', JSON.stringify({status})])
}

/**
 * The endpoint controller's part for the control plane's Services: they select the controller,
 * whose (mirror) pod is at the host's bridge address, so their Endpoints and EndpointSlices
 * point there. The API server's service proxy (`mesh tap/top/stat/edges`) uses them.
 */
export async function controlPlaneEndpoints(): Promise<void> {
  const list = JSON.parse(await kubectl(['get', 'services', '-n', 'mesh-system', '-o', 'json'])) as {items: Array<Record<string, any>>}
  const docs: object[] = []
  for (const s of list.items) {
    if (!s.spec.selector) continue
    const ports = (s.spec.ports as Array<{name?: string; port: number; targetPort?: number | string}>)
      .map((p) => ({name: p.name ?? '', protocol: 'TCP', port: typeof p.targetPort === 'number' ? p.targetPort : p.port}))
    const targetRef = {kind: 'Pod', namespace: 'mesh-system', name: 'mesh-controller-host'}
    docs.push(
      {apiVersion: 'v1', kind: 'Endpoints', metadata: {name: s.metadata.name, namespace: 'mesh-system'}, subsets: [{addresses: [{ip: HOST_IP, targetRef}], ports}]},
      {apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: {name: `${s.metadata.name}-e2e`, namespace: 'mesh-system', labels: {'kubernetes.io/service-name': s.metadata.name}},
        addressType: 'IPv4', ports, endpoints: [{addresses: [HOST_IP], conditions: {ready: true, serving: true, terminating: false}, targetRef}]},
    )
  }
  await kubectl(['apply', '-f', '-'], JSON.stringify({apiVersion: 'v1', kind: 'List', items: docs}))
}

/**
 * A kubeconfig whose user authenticates with the admin's bearer token: the tap server learns the
 * caller from that token (TokenReview), which a client certificate cannot give it.
 */
export function tokenKubeconfig(dir: string): string {
  const file = path.join(dir, 'token.kubeconfig')
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'admin-token',
    clusters: [{name: 'e2e', cluster: {server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64')}}],
    users: [{name: 'admin-token', user: {token: cluster.tokens.admin}}],
    contexts: [{name: 'admin-token', context: {cluster: 'e2e', user: 'admin-token'}}],
  }), {mode: 0o600})
  return file
}

/** `mesh <args>` in process (no start-up cost) with the token kubeconfig: stat and edges. */
export function meshAs(kubeconfig: string, ...args: string[]): Promise<RunResult> {
  return transcript.track(`mesh ${args.join(' ')} (token kubeconfig)`, async () => {
    const r = await runMesh([...args, '--kubeconfig', kubeconfig, '--context', 'admin-token'])
    return {...r, code: r.exitCode}
  })
}

/**
 * The mesh binary (a process: tap and top run side by side) with the token kubeconfig and its
 * context named explicitly (cluster mode).
 */
export function meshWithToken(kubeconfig: string, ...args: string[]): Promise<RunResult> {
  return transcript.track(`mesh ${args.join(' ')} (process, token kubeconfig)`, async () => {
    const r = await spawnMesh([...args, '--kubeconfig', kubeconfig, '--context', 'admin-token'], {timeoutMs: 90_000})
    return {...r, code: r.exitCode}
  })
}

/**
 * The API server calls the webhook through its Service's ClusterIP, which nothing serves here
 * (and which is blackholed): like the controller itself, the webhook is reached at the host's
 * bridge address, whose IP the controller puts in the injector's serving certificate when it
 * listens there (`--listen-host`). Same CA bundle, same path.
 */
export async function pointWebhookAtHost(port = 8443): Promise<void> {
  const name = 'mesh-proxy-injector-webhook-config'
  const w = JSON.parse(await kubectl(['get', 'mutatingwebhookconfiguration', name, '-o', 'json'])) as Record<string, any>
  const cc = w.webhooks[0].clientConfig as {service: {path: string}; caBundle: string}
  const patch = [{op: 'replace', path: '/webhooks/0/clientConfig', value: {url: `https://${HOST_IP}:${port}${cc.service.path}`, caBundle: cc.caBundle}}]
  await kubectl(['patch', 'mutatingwebhookconfiguration', name, '--type=json', '-p', JSON.stringify(patch)])
}
