// The pod runner: a test-only agent that plays kubelet, ReplicaSet, endpoint and ServiceAccount
// controllers for the namespaces it serves. Pods become network namespaces on meshbr0 (see
// net.ts, pod.ts); Services get EndpointSlices and entries in every pod's hosts file.
//
//   const runner = await PodRunner.start(cluster, {namespaces: ['shop', 'plain']})
//   ...
//   await runner.stop()   // always: kills every process, removes every netns, the bridge, routes
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {ClusterInfo} from '../../cluster/cluster.js'
import {Kube, type Obj} from './kube.js'
import {HOST_IP, setupHost, teardownHost, writeHosts, type HostNetwork} from './net.js'
import {PodInstance} from './pod.js'
import {EndpointsController} from './endpoints.js'
import {reconcileDeployment} from './deployments.js'
import {removeMountPoints} from './procs.js'
import {ROOT} from './containers.js'
import {transcript} from '../transcript.js'

export interface ExecResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface PodRunnerOptions {
  namespaces: string[]
  /**
   * Namespaces whose Services are served by processes on the host (the control plane run as
   * `mesh controller` on the host): their names map to the bridge's host address, 10.244.0.1,
   * in every pod's hosts file, as kube-proxy would send them to the controller's pods.
   */
  hostNamespaces?: string[]
  /** Grace given to containers on pod deletion (default 2 s). */
  graceMs?: number
}

export interface ClientSummary {
  ok: number
  failed: number
  pods: Record<string, number>
  /** Per pod, epoch ms of its last answer. */
  last: Record<string, number>
  started: number
  statuses: Record<string, number>
  /** HTTP: answers the proxy gave itself, by their `mesh-proxy-error` header. */
  proxyErrors: Record<string, number>
  errors: string[]
  ms: number
  raw: string
}

const key = (o: Obj): string => `${o.metadata.namespace}/${o.metadata.name}`

export class PodRunner {
  readonly kube: Kube
  readonly namespaces: Set<string>
  readonly pods = new Map<string, Obj>()
  readonly services = new Map<string, Obj>()
  readonly deployments = new Map<string, Obj>()
  /**
   * Realized pods by uid: a pod deleted and recreated under the same name (a Deployment's
   * replacement takes the first free index) is a new instance while the old one still stops.
   */
  readonly instances = new Map<string, PodInstance>()
  readonly failures: string[] = []
  private readonly starting = new Map<string, Promise<void>>()
  private readonly removing = new Set<string>()
  private readonly endpoints: EndpointsController
  private readonly watches: Array<{stop(): void; synced: Promise<void>}> = []
  private nextIndex = 1
  private readonly freeIps: number[] = []
  private dirty?: NodeJS.Timeout
  private reconciling?: Promise<void>
  private again = false
  private stopped = false
  private readonly runDir: string
  private readonly onExit = (): void => this.stopSync()

  private constructor(private readonly info: ClusterInfo, private readonly host: HostNetwork, private readonly opts: PodRunnerOptions) {
    this.kube = new Kube(info)
    this.namespaces = new Set(opts.namespaces)
    this.endpoints = new EndpointsController(this.kube)
    this.runDir = mkdtempSync(path.join(os.tmpdir(), 'mesh-e2e-'))
  }

  static async start(info: ClusterInfo, opts: PodRunnerOptions): Promise<PodRunner> {
    const host = setupHost()
    const runner = new PodRunner(info, host, opts)
    process.on('exit', runner.onExit)
    try {
      runner.watches.push(
        runner.kube.watch('/api/v1/namespaces', (t, o) => runner.onNamespace(t, o)),
        runner.kube.watch('/api/v1/services', (t, o) => runner.onObject(runner.services, t, o)),
        runner.kube.watch('/apis/apps/v1/deployments', (t, o) => runner.onObject(runner.deployments, t, o)),
        runner.kube.watch('/api/v1/pods', (t, o) => runner.onPod(t, o)),
      )
      await Promise.all(runner.watches.map((w) => w.synced))
    } catch (err) {
      await runner.stop()
      throw err
    }
    return runner
  }

  /** Log directory of this run (container logs, volumes). */
  get dir(): string {
    return this.runDir
  }

  serve(namespace: string): void {
    this.namespaces.add(namespace)
    this.schedule()
  }

  /**
   * A fresh address while there are any: an address freed a moment ago is still in the other
   * pods' neighbour caches with the old pod's MAC, so a successor reusing it would be unreachable
   * (frames to a MAC nobody has, dropped) until those entries are re-resolved, seconds later. A
   * real CNI does not hand a freed address out at once either. Freed ones only when none is left.
   */
  private allocIp(): {ip: string; index: number} {
    const index = this.nextIndex <= 250 * 250 ? this.nextIndex++ : this.freeIps.shift()
    if (index === undefined) throw new Error('pod runner: out of pod IPs')
    return {ip: `10.244.${1 + Math.floor((index - 1) / 250)}.${2 + ((index - 1) % 250)}`, index}
  }

  private async onNamespace(type: string, ns: Obj): Promise<void> {
    const name = ns.metadata.name
    if (type === 'DELETED' || !this.namespaces.has(name) || ns.status?.phase === 'Terminating') return
    // The ServiceAccount controller's part: every namespace has `default`.
    await this.kube.post(`/api/v1/namespaces/${name}/serviceaccounts`, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'default'}})
      .catch(() => {})
  }

  private onObject(map: Map<string, Obj>, type: string, o: Obj): void {
    if (type === 'DELETED') map.delete(key(o))
    else map.set(key(o), o)
    this.schedule()
  }

  private onPod(type: string, pod: Obj): void {
    const k = key(pod)
    const uid = pod.metadata.uid as string
    if (type === 'DELETED') {
      // Only if the name still means this pod: a DELETED event can arrive after its successor's ADDED.
      if (this.pods.get(k)?.metadata.uid === uid) this.pods.delete(k)
      this.schedule()
      void this.removePod(uid)
      return
    }
    this.pods.set(k, pod)
    this.schedule()
    // A pod of this name with another uid is a predecessor: stop it (its DELETED may be late).
    for (const [other, inst] of this.instances) if (other !== uid && key(inst.pod) === k) void this.removePod(other)
    if (!this.namespaces.has(pod.metadata.namespace) || this.instances.has(uid) || this.stopped) return
    if (pod.metadata.deletionTimestamp) return
    const {ip, index} = this.allocIp()
    const inst = new PodInstance(this.kube, pod, ip, index, this.runDir)
    this.instances.set(uid, inst)
    const p = inst.start(() => this.writeHostsFor(inst)).catch((err: unknown) => {
      inst.error = (err as Error).message
      this.failures.push(`${k} (uid ${uid}): ${(err as Error).message}`)
      process.stderr.write(`[pod-runner] ${k} (uid ${uid}): ${(err as Error).message}\n`)
    })
    this.starting.set(uid, p)
  }

  private async removePod(uid: string): Promise<void> {
    const inst = this.instances.get(uid)
    if (!inst || this.removing.has(uid)) return
    this.removing.add(uid)
    await this.starting.get(uid)
    await inst.stop(this.opts.graceMs ?? 2000)
    this.instances.delete(uid)
    this.starting.delete(uid)
    this.removing.delete(uid)
    this.freeIps.push(inst.index)
  }

  /** Coalesces changes into one reconcile of deployments, endpoint slices and hosts files. */
  private schedule(): void {
    if (this.dirty || this.stopped) return
    this.dirty = setTimeout(() => {
      this.dirty = undefined
      if (this.reconciling) {
        this.again = true
        return
      }
      this.reconciling = this.reconcile()
        .catch((err: unknown) => {
          process.stderr.write(`[pod-runner] reconcile: ${(err as Error).stack}\n`)
        })
        .finally(() => {
          this.reconciling = undefined
          if (this.again) {
            this.again = false
            this.schedule()
          }
        })
    }, 20)
  }

  private async reconcile(): Promise<void> {
    const served = (o: Obj): boolean => this.namespaces.has(o.metadata.namespace)
    const podsByNs = new Map<string, Obj[]>()
    for (const p of this.pods.values()) if (served(p)) podsByNs.set(p.metadata.namespace, [...(podsByNs.get(p.metadata.namespace) ?? []), p])
    const services = [...this.services.values()].filter(served)
    await this.endpoints.sync(services, podsByNs)
    for (const d of this.deployments.values()) {
      if (served(d) && !d.metadata.deletionTimestamp) await reconcileDeployment(this.kube, d, podsByNs.get(d.metadata.namespace) ?? [])
    }
    for (const inst of this.instances.values()) if (!inst.stopping) this.writeHostsFor(inst)
  }

  /** The pod's hosts file: Services of served namespaces at their ClusterIP, host-served ones at 10.244.0.1. */
  private writeHostsFor(inst: PodInstance): void {
    const hostNs = new Set(this.opts.hostNamespaces ?? [])
    const entries = [
      ...[...this.services.values()].filter((s) => this.namespaces.has(s.metadata.namespace) && s.spec.clusterIP && s.spec.clusterIP !== 'None'),
      ...[...this.services.values()].filter((s) => hostNs.has(s.metadata.namespace)).map((s): Obj => ({...s, spec: {...s.spec, clusterIP: HOST_IP}})),
    ]
    const ns = inst.pod.metadata.namespace
    writeHosts(inst.netns, inst.pod.metadata.name, inst.ip, entries.map((s) => {
      const n = s.metadata.name
      const sns = s.metadata.namespace
      return {ip: s.spec.clusterIP, names: [`${n}.${sns}.svc.cluster.local`, `${n}.${sns}.svc`, `${n}.${sns}`, ...(sns === ns ? [n] : [])]}
    }))
  }

  /**
   * The realized pod that namespace/name means now (the API's pod of that name, by uid), once
   * the runner has seen it; never a predecessor of the same name.
   */
  instance(namespace: string, name: string): PodInstance | undefined {
    const k = `${namespace}/${name}`
    const uid = this.pods.get(k)?.metadata.uid as string | undefined
    if (uid) return this.instances.get(uid)
    // Deleted from the API: the instance still stopping under that name, if any.
    return [...this.instances.values()].filter((i) => key(i.pod) === k).pop()
  }

  /**
   * Runs a command in the pod's network namespace (like `kubectl exec`), as uid 1000 by
   * default (an app, not the proxy: its connections are intercepted).
   */
  exec(namespace: string, pod: string, argv: string[], opts: {uid?: number; timeoutMs?: number} = {}): Promise<ExecResult> {
    const inst = this.instance(namespace, pod)
    if (!inst) return Promise.reject(new Error(`exec: pod ${namespace}/${pod} is not running here`))
    const uid = opts.uid ?? 1000
    const full = ['ip', 'netns', 'exec', inst.netns, 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...argv]
    const what = `exec in ${namespace}/${pod} (uid ${uid}): ${argv.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(' ')}`
    return transcript.track(what, () => new Promise<ExecResult>((resolve) => {
      const child = spawn(full[0]!, full.slice(1), {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, env: {PATH: process.env['PATH'], HOME: '/tmp'}})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('close', (code) => resolve({code, stdout, stderr}))
    }))
  }

  /** Runs test/e2e/apps/client.ts in a pod and returns its JSON summary. */
  async client(namespace: string, pod: string, args: string[], opts: {timeoutMs?: number} = {}): Promise<ClientSummary> {
    const r = await this.exec(namespace, pod, [process.execPath, '--import', 'tsx', '--no-warnings', path.join(ROOT, 'test/e2e/apps/client.ts'), ...args], opts)
    const line = r.stdout.trim().split('\n').pop() ?? ''
    try {
      return {...(JSON.parse(line) as ClientSummary), raw: `${r.stdout}${r.stderr}`}
    } catch {
      throw new Error(`client ${args.join(' ')} in ${namespace}/${pod} printed no summary (exit ${r.code}):\n${r.stdout}${r.stderr}`)
    }
  }

  /** Waits until the pods (namespace/name) are Ready in the API; throws with their state otherwise. */
  async waitReady(names: string[], timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs
    const ready = (k: string): boolean => (this.pods.get(k)?.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True')
    while (Date.now() < end) {
      if (names.every(ready)) return
      if (this.failures.length > 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`pods not ready after ${timeoutMs} ms: ${names.filter((n) => !ready(n)).join(', ')}\n${this.describe()}`)
  }

  /** What a failing test prints: every pod's events, logs and rules. */
  describe(): string {
    return [...this.failures.map((f) => `FAILURE ${f}`), ...[...this.instances.values()].map((i) => i.describe())].join('\n')
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.dirty) clearTimeout(this.dirty)
    for (const w of this.watches) w.stop()
    await Promise.allSettled([...this.starting.values()])
    await Promise.allSettled([...this.instances.values()].map((i) => i.stop(500)))
    this.stopSync()
  }

  private stopSync(): void {
    this.stopped = true
    process.off('exit', this.onExit)
    teardownHost(this.host)
    removeMountPoints()
    this.kube.close()
    if (!process.env['MESH_E2E_KEEP']) rmSync(this.runDir, {recursive: true, force: true})
  }
}
