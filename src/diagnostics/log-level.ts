// `mesh proxy log-level <target> <level> [--for 10m]`: sets the log level of each proxy of the
// target through the admin server's PUT /proxy-log-level, reached over a pod port-forward (the
// admin server answers writes only to loopback peers; a port-forward arrives on 127.0.0.1).
//
// Who reverts a timed level: the proxy, when it can. The request carries `?for=<seconds>`
// (src/protocol/proxy-admin.ts); the proxy answers 200 with `mesh-log-level-until` and puts the
// previous level back itself, so nothing depends on this command staying alive. Proxies before
// timed levels ignore the query and answer 204: for them this command stays in the foreground
// and puts each previous level back when the time is up, or at once on Ctrl-C / SIGTERM (a
// killed command leaves the level as it is: it says so).
import {loadKube, type Kube, type KubeOptions} from '../k8s/client.js'
import {ClusterError, UsageError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'
import {ADMIN_LOG_LEVEL_PATH, LOG_LEVEL_MAX_SECONDS, LOG_LEVEL_UNTIL_HEADER} from '../protocol/proxy-admin.js'
import {parseTarget, podsOf, type ProxyPod} from './pods.js'
import {portForwardHttp} from './port-forward.js'

export const PROXY_LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const

export interface LogLevelFlags {
  target: string
  level: string
  forMs?: number
  namespace?: string
  controlPlaneNamespace: string
  kube: KubeOptions
  /** Resolves to stop waiting early (tests); default: SIGINT or SIGTERM. */
  interrupted?: Promise<unknown>
}

export interface LevelChange {
  pod: string
  previous: string
  level: string
  /** When the proxy itself puts `previous` back (timed levels it implements). */
  proxyRevertsAt?: string
}

async function admin(kube: Kube, pod: ProxyPod, method: 'GET' | 'PUT', path: string, body?: string) {
  return portForwardHttp(kube, pod, pod.adminPort, {method, path, body})
}

async function setLevel(kube: Kube, pod: ProxyPod, level: string, forSeconds?: number): Promise<{until?: string}> {
  const res = await admin(kube, pod, 'PUT', ADMIN_LOG_LEVEL_PATH + (forSeconds ? `?for=${forSeconds}` : ''), level)
  if (res.status !== 204 && res.status !== 200) {
    throw new ClusterError(`the proxy of ${pod.namespace}/${pod.name} refused log level ${level}: HTTP ${res.status} ${res.body.trim().slice(0, 200)}`, {code: 'MESH_LOG_LEVEL'})
  }
  return {until: res.status === 200 ? res.headers[LOG_LEVEL_UNTIL_HEADER] : undefined}
}

export async function runLogLevel(f: LogLevelFlags, out: Output): Promise<LevelChange[]> {
  if (!(PROXY_LOG_LEVELS as readonly string[]).includes(f.level)) {
    throw new UsageError(`log level "${f.level}" is not one of ${PROXY_LOG_LEVELS.join(', ')}`, {suggestions: ['e.g. mesh proxy log-level deploy/web debug --for 10m']})
  }
  const forSeconds = f.forMs === undefined ? undefined : Math.ceil(f.forMs / 1000)
  if (forSeconds !== undefined && (forSeconds < 1 || forSeconds > LOG_LEVEL_MAX_SECONDS)) {
    throw new UsageError(`--for must be between 1s and ${LOG_LEVEL_MAX_SECONDS / 3600}h`, {suggestions: ['e.g. --for 10m']})
  }
  const kube = await loadKube(f.kube)
  const ns = f.namespace ?? kube.namespace
  const pods = (await podsOf(kube, parseTarget(f.target, 'target'), {namespace: ns, controlPlaneNamespace: f.controlPlaneNamespace, trustDomain: 'cluster.local'})).filter((p) => p.proxy && p.running)
  if (pods.length === 0) throw new ClusterError(`${f.target} in namespace ${ns} has no running meshed pods`, {code: 'MESH_NOT_MESHED'})
  const changes: LevelChange[] = []
  const revertAll = async (why: string): Promise<void> => {
    for (const c of changes.filter((x) => !x.proxyRevertsAt)) {
      const pod = pods.find((p) => p.name === c.pod)!
      try {
        await setLevel(kube, pod, c.previous)
        out.info(`${c.pod}: log level back to ${c.previous} (${why})`)
      } catch (error) {
        out.warn(`${c.pod}: could not set the log level back to ${c.previous}: ${(error as Error).message}`)
      }
    }
  }
  for (const pod of pods) {
    let previous: string
    try {
      const got = await admin(kube, pod, 'GET', ADMIN_LOG_LEVEL_PATH)
      if (got.status !== 200) throw new Error(`HTTP ${got.status} ${got.body.trim().slice(0, 100)}`)
      previous = got.body.trim()
      const {until} = await setLevel(kube, pod, f.level, forSeconds)
      changes.push({pod: pod.name, previous, level: f.level, ...(until ? {proxyRevertsAt: until} : {})})
      out.data(`${pod.name}: ${previous} -> ${f.level}${until ? ` until ${until} (the proxy puts ${previous} back)` : ''}`)
    } catch (error) {
      await revertAll('the change was not made on every pod')
      throw error instanceof ClusterError ? error : new ClusterError(`cannot set the log level of ${ns}/${pod.name}: ${(error as Error).message}`, {code: 'MESH_LOG_LEVEL'})
    }
  }
  const ours = changes.filter((c) => !c.proxyRevertsAt)
  if (f.forMs === undefined || ours.length === 0) return changes
  // Proxies that do not revert timed levels themselves: this command does.
  out.info(`${ours.length} of ${changes.length} proxies do not revert timed levels themselves (they answered 204): this command sets them back in ${Math.round(f.forMs / 1000)} s; keep it running (Ctrl-C sets them back now; if it is killed, the level stays).`)
  let onSignal: (() => void) | undefined
  const signalled = new Promise<string>((resolve) => {
    onSignal = () => resolve('interrupted')
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
  let timer: NodeJS.Timeout | undefined
  const why = await Promise.race([
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`after ${Math.round(f.forMs! / 1000)} s`), f.forMs))),
    signalled,
    ...(f.interrupted ? [f.interrupted.then(() => 'interrupted')] : []),
  ])
  clearTimeout(timer)
  process.off('SIGINT', onSignal!)
  process.off('SIGTERM', onSignal!)
  await revertAll(why)
  return changes
}
