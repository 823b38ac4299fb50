// The journey's tools: steps with their own deadline that report what they saw, waiting, the
// proxies' metrics and logs read inside their pods, bounded traffic while a command streams,
// and the namespace controller's part of deleting a namespace.
import {expect} from 'vitest'
import type {PodRunner} from './runner/runner.js'
import type {Obj} from './runner/kube.js'
import type {RunResult} from '../helpers/run.js'
import {expectOk, kubectl, mesh, meshCheckPasses, mirrorControllerPod, startHostController, type HostController} from './mesh-env.js'
import {transcript} from './transcript.js'
import {eventuallyWith} from '../helpers/eventually.js'

/** A step's budget; the test's timeout (vitest.e2e.config.ts: 180 s) leaves it room to report. */
export const STEP_MS = 170_000
/** Steps that wait on a loaded machine's pod starts or run bounded loads: budget, test timeout. */
export const LONG_STEP_MS = 290_000
export const LONG_TEST_MS = 300_000

let stepStart = Date.now()

/** A timing line on stderr (the suite's measurements in docs/architecture/e2e.md come from these). */
export function progress(what: string): void {
  process.stderr.write(`[e2e] +${((Date.now() - stepStart) / 1000).toFixed(1)} s ${what}\n`)
}

/**
 * Runs a step with its own deadline, shorter than the test's, so that a failing or hanging step
 * reports what it saw: its commands (exit code, stdout, stderr) and what `seen()` adds.
 */
export async function runStep<T>(fn: () => Promise<T>, budgetMs: number, seen: () => string[]): Promise<T> {
  transcript.reset()
  stepStart = Date.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the step did not finish within ${budgetMs / 1000} s`)), budgetMs)
  })
  try {
    return await Promise.race([fn(), deadline])
  } catch (err) {
    ;(err as Error).message += `\n--- commands of this step ---\n${transcript.render()}\n${seen().join('\n')}`
    throw err
  } finally {
    clearTimeout(timer)
  }
}

export const eventually = eventuallyWith({intervalMs: 1000})

export const identity = (sa: string, ns: string): string => `${sa}.${ns}.serviceaccount.identity.mesh-system.cluster.local`

/** The proxy's /metrics, read inside the pod over loopback (the admin port refuses others). */
export async function proxyMetrics(runner: PodRunner, ns: string, pod: string): Promise<string> {
  const r = await runner.exec(ns, pod, [process.execPath, '-e', `fetch('http://127.0.0.1:4191/metrics').then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(e); process.exit(1) })`])
  if (r.code !== 0) throw new Error(`metrics of ${ns}/${pod}: ${r.stderr}`)
  return r.stdout
}

export function sumMetric(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

export interface Renewal {
  at: number
  validUntil: number
  line: string
}

/** The proxy's "certificate renewed" log lines (plain log format: `<ISO time> INFO  certificate renewed ... validUntil=<ISO>`). */
export function renewalsIn(log: string): Renewal[] {
  return log.split('\n').filter((l) => / certificate renewed /.test(l)).map((line) => ({
    line, at: Date.parse(line.slice(0, line.indexOf(' '))), validUntil: Date.parse(/validUntil=(\S+)/.exec(line)?.[1] ?? ''),
  }))
}

/**
 * Sends batches of 3 requests to each url from the client pod until `cmd` (a tap or top that
 * needs live traffic) ends; bounded by 40 batches.
 */
export async function whileTraffic(runner: PodRunner, ns: string, client: string, cmd: Promise<RunResult>, urls: string[]): Promise<RunResult> {
  let done = false
  const r = cmd.finally(() => (done = true))
  for (let i = 0; i < 40 && !done; i++) {
    for (const u of urls) if (!done) await runner.client(ns, client, ['http', u, '3', '100'])
  }
  return r
}

/**
 * The namespace controller's part (this cluster has no controller-manager): delete everything
 * left in a Terminating namespace, check it is empty, then drop its `kubernetes` finalizer.
 */
export async function finalizeNamespace(ns: string): Promise<void> {
  const kinds = (await kubectl(['api-resources', '--namespaced', '--verbs=list,delete', '-o', 'name'])).split('\n').filter((k) => k && !k.startsWith('events')).join(',')
  await kubectl(['delete', kinds, '--all', '-n', ns, '--ignore-not-found', '--wait=false'])
  const end = Date.now() + 15_000
  let left: string
  do {
    left = (await kubectl(['get', kinds, '-n', ns, '-o', 'name', '--ignore-not-found'])).trim()
    if (!left) break
    await new Promise((r) => setTimeout(r, 200))
  } while (Date.now() < end)
  expect(left, `left in ${ns} after deleting its content`).toBe('')
  const obj = JSON.parse(await kubectl(['get', 'namespace', ns, '-o', 'json'])) as Obj
  expect(obj.metadata.deletionTimestamp, `${ns} is being deleted`).toBeTruthy()
  await kubectl(['replace', '--raw', `/api/v1/namespaces/${ns}/finalize`, '-f', '-'], JSON.stringify({...obj, spec: {finalizers: []}}))
}

/**
 * `mesh install | kubectl apply -f -`, then `beforeController` (what the cluster must have before
 * the controller starts), the controller as a process on the host (handed to `started` as soon
 * as it runs, so the caller can stop it whatever happens next) and its mirror pod; resolves with
 * install's output once `mesh check` passes.
 */
export async function installMesh(dir: string, started: (c: HostController) => void, beforeController?: () => Promise<void>): Promise<string> {
  const manifest = expectOk(await mesh('install'), 'mesh install')
  await kubectl(['apply', '-f', '-'], manifest)
  await beforeController?.()
  started(await startHostController(dir))
  await mirrorControllerPod()
  await meshCheckPasses()
  return manifest
}

/**
 * What a user does to remove the mesh: the meshed apps of `namespaces` first (uninstall refuses
 * while proxies run): their Deployments, then (no garbage collector in this cluster) their pods;
 * then `mesh uninstall | kubectl delete -f -`. The controller's Deployment is gone, so its
 * process (on the host) and its mirror pod go too, and mesh-system is finalized. Resolves with
 * uninstall's output.
 */
export async function uninstallMesh(runner: PodRunner, namespaces: string[], controller: HostController | undefined): Promise<string> {
  for (const ns of namespaces) {
    await kubectl(['delete', 'deployments', '--all', '-n', ns])
    await eventually(`the runner to see the deployments of ${ns} gone`, () => ([...runner.deployments.values()].some((d) => d.metadata.namespace === ns) ? undefined : true), {timeoutMs: 30_000, intervalMs: 50})
    await kubectl(['delete', 'pods', '--all', '-n', ns])
  }
  const manifest = expectOk(await mesh('uninstall'), 'mesh uninstall')
  await kubectl(['delete', '-f', '-', '--wait=false'], manifest)
  await controller?.stop()
  await kubectl(['delete', 'pod', 'mesh-controller-host', '-n', 'mesh-system', '--ignore-not-found'])
  await finalizeNamespace('mesh-system')
  return manifest
}
