// One Pod realized on this host, as a kubelet would: network namespace and IP (written to the
// status subresource), init containers to completion (native sidecars started and gated on
// their startup probe), then the containers, restarted when they exit, with readiness probes
// run from the host against the pod IP feeding the Ready condition.
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import http from 'node:http'
import path from 'node:path'
import type {Kube, Obj} from './kube.js'
import {createNetns, destroyNetns, HOST_IP, natRules} from './net.js'
import {ROOT, containerArgv, containerMounts, containerUid, podVolumes, resolveEnv} from './containers.js'
import {runInNs, spawnInNs, stopProcess, tailLog, type NsProcess} from './procs.js'

export interface PodRef {
  namespace: string
  name: string
  uid: string
}

interface Running {
  spec: Obj
  proc: NsProcess
  ready: boolean
  restarts: number
  /** Readiness probe failures in a row. */
  fails: number
}

/**
 * The mesh image has no passwd entry for the proxy's uid 2102, and Node's os.userInfo() (which
 * oclif calls) throws without one: the harness gives the container an /etc/passwd with the
 * entry, as the image should. See the e2e architecture page.
 */
function passwdMount(dir: string, uid: number | undefined): Array<{source: string; target: string}> {
  if (uid === undefined || uid === 0) return []
  const host = readFileSync('/etc/passwd', 'utf8')
  if (host.split('\n').some((l) => l.split(':')[2] === String(uid))) return []
  const file = path.join(dir, `passwd-${uid}`)
  writeFileSync(file, `${host.trimEnd()}\nuid${uid}:x:${uid}:${uid}::/:/usr/sbin/nologin\n`, {mode: 0o644})
  return [{source: file, target: '/etc/passwd'}]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class PodInstance {
  readonly netns: string
  readonly dir: string
  private readonly running = new Map<string, Running>()
  private stopped = false
  private probeTimer?: NodeJS.Timeout
  private lastReady?: boolean
  private probing = false
  events: string[] = []
  error?: string

  constructor(private readonly kube: Kube, readonly pod: Obj, readonly ip: string, readonly index: number, runDir: string) {
    this.netns = `mesh-e2e-${index}-${pod.metadata.name}`.slice(0, 60)
    // The uid too: a successor with the same name must not share (or lose) the files.
    this.dir = path.join(runDir, `${pod.metadata.namespace}_${pod.metadata.name}_${String(pod.metadata.uid).slice(0, 8)}`)
  }

  /** True once stop() began: the runner no longer writes its hosts file. */
  get stopping(): boolean {
    return this.stopped
  }

  get ref(): PodRef {
    return {namespace: this.pod.metadata.namespace, name: this.pod.metadata.name, uid: this.pod.metadata.uid}
  }

  private note(msg: string): void {
    this.events.push(`${new Date().toISOString().slice(11, 23)} ${msg}`)
  }

  private statusPath(): string {
    return `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}/status`
  }

  /** `hosts` writes the namespace's hosts file once it exists. */
  async start(hosts: () => void): Promise<void> {
    mkdirSync(this.dir, {recursive: true})
    const intercepted = ((this.pod.spec.initContainers ?? []) as Obj[]).some((c) => (c.args ?? [])[0] === 'proxy-init')
    createNetns(this.netns, `mve${this.index}`, this.ip, this.pod.metadata.name, intercepted)
    hosts()
    this.note(`netns ${this.netns} ip ${this.ip}`)
    const now = new Date().toISOString()
    this.pod.status = {...this.pod.status, podIP: this.ip, podIPs: [{ip: this.ip}], hostIP: HOST_IP, hostIPs: [{ip: HOST_IP}]}
    await this.patchStatus({
      phase: 'Pending', podIP: this.ip, podIPs: [{ip: this.ip}], hostIP: HOST_IP, hostIPs: [{ip: HOST_IP}], startTime: now,
      conditions: [{type: 'PodScheduled', status: 'True', lastTransitionTime: now}, {type: 'Ready', status: 'False', lastTransitionTime: now}],
    })
    const volumes = await podVolumes(this.kube, this.pod, path.join(this.dir), 2102)
    for (const c of (this.pod.spec.initContainers ?? []) as Obj[]) {
      if (this.stopped) return
      if (c.restartPolicy === 'Always') {
        await this.startContainer(c, volumes)
        if (c.startupProbe) await this.waitProbe(c, c.startupProbe, (c.startupProbe.failureThreshold ?? 3) * (c.startupProbe.periodSeconds ?? 10) * 1000)
        continue
      }
      const env = await resolveEnv(this.kube, this.pod, c)
      const r = runInNs({ns: this.netns, name: c.name, argv: containerArgv(c), env, cwd: ROOT, logPath: '', uid: containerUid(c, this.pod)})
      this.note(`init ${c.name} exit ${r.code}: ${r.output.trim().slice(-400)}`)
      if (r.code !== 0) throw new Error(`init container ${c.name} of ${this.pod.metadata.namespace}/${this.pod.metadata.name} failed (${r.code}): ${r.output.trim()}`)
    }
    for (const c of (this.pod.spec.containers ?? []) as Obj[]) await this.startContainer(c, volumes)
    await this.patchStatus({phase: 'Running'})
    this.probeTimer = setInterval(() => void this.probeAll(), 500)
    await this.probeAll()
  }

  private async startContainer(c: Obj, volumes: Map<string, string>): Promise<void> {
    const env = await resolveEnv(this.kube, this.pod, c)
    const launch = (): NsProcess => {
      const uid = containerUid(c, this.pod)
      const proc = spawnInNs({
        ns: this.netns, name: c.name, argv: containerArgv(c), env, cwd: ROOT, uid,
        logPath: path.join(this.dir, `${c.name}.log`), mounts: [...containerMounts(c, volumes), ...passwdMount(this.dir, uid)],
      })
      void proc.exit.then((code) => {
        const r = this.running.get(c.name)
        if (this.stopped || !r || r.proc !== proc) return
        r.ready = false
        r.restarts++
        this.note(`container ${c.name} exited ${code}; restart ${r.restarts}`)
        if (r.restarts <= 5) setTimeout(() => { if (!this.stopped) r.proc = launch() }, 1000)
      })
      return proc
    }
    this.running.set(c.name, {spec: c, proc: launch(), ready: false, restarts: 0, fails: 0})
    this.note(`started ${c.name}`)
  }

  private async probe(c: Obj, probe: Obj): Promise<boolean> {
    const port = (p: number | string): number => {
      if (typeof p === 'number') return p
      const found = ((c.ports ?? []) as Obj[]).find((x) => x.name === p)
      return Number(found?.containerPort ?? p)
    }
    if (probe.httpGet) {
      return new Promise((resolve) => {
        const req = http.get({host: this.ip, port: port(probe.httpGet.port), path: probe.httpGet.path ?? '/', timeout: (probe.timeoutSeconds ?? 1) * 1000}, (res) => {
          res.resume()
          resolve((res.statusCode ?? 500) >= 200 && (res.statusCode ?? 500) < 400)
        })
        req.on('timeout', () => req.destroy())
        req.on('error', () => resolve(false))
      })
    }
    if (probe.tcpSocket) {
      return new Promise((resolve) => {
        const s = net.connect({host: this.ip, port: port(probe.tcpSocket.port), timeout: (probe.timeoutSeconds ?? 1) * 1000})
        s.on('connect', () => { s.destroy(); resolve(true) })
        s.on('timeout', () => { s.destroy(); resolve(false) })
        s.on('error', () => resolve(false))
      })
    }
    throw new Error(`container ${c.name}: probe ${Object.keys(probe).join(',')} is not supported by the pod runner`)
  }

  private async waitProbe(c: Obj, probe: Obj, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs
    while (!this.stopped && Date.now() < end) {
      if (await this.probe(c, probe)) return
      await sleep(200)
    }
    if (!this.stopped) throw new Error(`container ${c.name}: startup probe not passing after ${timeoutMs} ms\n${tailLog(path.join(this.dir, `${c.name}.log`))}`)
  }

  private async probeAll(): Promise<void> {
    // One round at a time: a slow round must not overlap the next tick (and count failures twice).
    if (this.stopped || this.probing) return
    this.probing = true
    try {
      await this.probeRound()
    } finally {
      this.probing = false
    }
  }

  private async probeRound(): Promise<void> {
    for (const r of this.running.values()) {
      const probe = r.spec.readinessProbe as Obj | undefined
      if (r.proc.exited) r.ready = false
      else if (!probe) r.ready = true
      else if (await this.probe(r.spec, probe)) {
        r.fails = 0
        r.ready = true
      } else {
        // As the kubelet: Ready is lost after failureThreshold (default 3) failures in a row, so
        // one slow answer on a loaded machine does not empty the Service's endpoints.
        r.fails++
        if (r.fails >= (probe.failureThreshold ?? 3)) r.ready = false
      }
    }
    const ready = [...this.running.values()].every((r) => r.ready)
    if (ready !== this.lastReady && !this.stopped) {
      this.lastReady = ready
      this.note(`ready ${ready}`)
      const t = new Date().toISOString()
      const cond = (type: string) => ({type, status: ready ? 'True' : 'False', lastTransitionTime: t})
      await this.patchStatus({
        conditions: [{type: 'PodScheduled', status: 'True', lastTransitionTime: t}, cond('Initialized'), cond('ContainersReady'), cond('Ready')],
        containerStatuses: [...this.running.values()].map((r) => ({
          name: r.spec.name, image: r.spec.image, imageID: '', ready: r.ready, restartCount: r.restarts, started: !r.proc.exited,
          state: r.proc.exited ? {terminated: {exitCode: r.proc.exitCode ?? -1}} : {running: {startedAt: t}},
        })),
      }).catch((err: unknown) => this.note(`status patch failed: ${(err as Error).message}`))
    }
  }

  private async patchStatus(status: Obj): Promise<void> {
    if (this.stopped) return
    // The uid makes it a precondition: never the status of a successor with the same name.
    await this.kube.mergePatch(this.statusPath(), {metadata: {uid: this.pod.metadata.uid}, status})
  }

  /** Everything the container logged so far, restarts included ('' before it started). */
  log(container: string): string {
    const r = this.running.get(container)
    if (!r) return ''
    try {
      return readFileSync(r.proc.logPath, 'utf8')
    } catch {
      return ''
    }
  }

  isReady(): boolean {
    return this.lastReady === true
  }

  /** SIGTERM every container (the proxy last), then remove the namespace and the pod's files. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.probeTimer) clearInterval(this.probeTimer)
    const procs = [...this.running.values()]
    const proxies = procs.filter((r) => r.spec.name === 'mesh-proxy')
    await Promise.all(procs.filter((r) => !proxies.includes(r)).map((r) => stopProcess(r.proc, graceMs)))
    await Promise.all(proxies.map((r) => stopProcess(r.proc, graceMs)))
    destroyNetns(this.netns)
    rmSync(path.join(this.dir, 'volumes'), {recursive: true, force: true})
  }

  /** What a failing test prints about this pod. */
  describe(lines = 25): string {
    const logs = [...this.running.values()].map((r) => `  --- ${r.spec.name} (exited: ${r.proc.exited}, restarts ${r.restarts}) ---\n${tailLog(r.proc.logPath, lines).replace(/^/gm, '    ')}`)
    return [`pod ${this.pod.metadata.namespace}/${this.pod.metadata.name} ip ${this.ip} netns ${this.netns}${this.error ? ` ERROR ${this.error}` : ''}`,
      ...this.events.map((e) => `  ${e}`), ...logs, this.stopped ? '' : `  nat:\n${natRules(this.netns).replace(/^/gm, '    ')}`].join('\n')
  }
}
