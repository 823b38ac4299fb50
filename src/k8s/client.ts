// One way to reach the cluster for every command and the controller: the user's kubeconfig
// (--kubeconfig, else $KUBECONFIG, else ~/.kube/config; --context; -n) or, inside a pod, the
// in-cluster service account. @kubernetes/client-node is imported lazily: it costs ~280 ms.
// Every call to the API server has a deadline (--request-timeout, as in kubectl), measured from
// the request's start to the end of its answer's body; when it passes, the request is aborted
// (its socket closed) and the call fails with a TimeoutError that says how long it waited.
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import type * as k8s from '@kubernetes/client-node'
import {DEFAULT_REQUEST_TIMEOUT_MS, describeTimeout, formatDuration} from '../lib/duration.js'
import {ClusterError, MeshError, TimeoutError} from '../lib/errors.js'

export interface KubeOptions {
  kubeconfig?: string
  context?: string
  namespace?: string
  /** Deadline of each API call, in ms; 0: none. Default DEFAULT_REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number
  /** Told (once) when an answer is slow in coming; the command prints it on stderr. */
  progress?: (line: string) => void
}

/** After this long without an answer, `progress` hears that the command is still waiting. */
export const SLOW_NOTICE_MS = 5_000

export interface Kube {
  k8s: typeof k8s
  kc: k8s.KubeConfig
  /** The namespace from -n, else the context's, else "default". */
  namespace: string
  /** Server URL of the current cluster. */
  server: string
  /** The deadline of every call, in ms (0: none). */
  requestTimeoutMs: number
  core(): k8s.CoreV1Api
  apps(): k8s.AppsV1Api
  objects(): k8s.KubernetesObjectApi
  /** A client of any generated API group, with the deadline. */
  api<T>(ctor: new (config: k8s.Configuration) => T): T
}

/** The error of a call that got no (complete) answer within the deadline. */
export function timeoutError(server: string, ms: number, what = 'answer'): TimeoutError {
  return new TimeoutError(`no ${what} from ${server} within ${describeTimeout(ms)}`, {
    code: 'MESH_API_TIMEOUT',
    suggestions: [
      `Check that the API server answers: \`kubectl version --request-timeout ${formatDuration(ms)}\`${server ? ` (server ${server})` : ''}.`,
      'To wait longer, pass e.g. --request-timeout 2m (0: no limit).',
    ],
  })
}

/** undici's connect timeout (TCP and TLS), which comes before --request-timeout when that is longer. */
const CONNECT_TIMEOUT_MS = 10_000

/**
 * undici says "fetch failed" and keeps the reason in `cause`: the error that names it (a refused
 * connection, a TLS failure), or a TimeoutError when the connection (TCP and TLS) did not
 * complete within undici's connect timeout.
 */
function fetchError(server: string, error: unknown): unknown {
  const cause = (error as {cause?: {code?: string; message?: string}})?.cause
  if (!(error instanceof TypeError) || !cause?.message) return error
  if (cause.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new TimeoutError(`no connection to ${server} within ${formatDuration(CONNECT_TIMEOUT_MS)} (it did not complete TCP and TLS)`, {
      code: 'MESH_API_TIMEOUT',
      suggestions: [`Check that the API server answers: \`kubectl version\` (server ${server}).`],
      cause: error,
    })
  }
  return Object.assign(new Error(cause.message, {cause: error}), {code: cause.code})
}

/**
 * client-node's fetch library, with the deadline and the slow-answer notice. The deadline covers
 * the body too: a server that sends headers and then stalls is cut off as well.
 */
function deadlineHttp(lib: typeof k8s, server: string, timeoutMs: number, slow: (() => void) | undefined): k8s.HttpLibrary {
  const inner = new lib.IsomorphicFetchHttpLibrary()
  return lib.wrapHttpLibrary({
    async send(request: k8s.RequestContext): Promise<k8s.ResponseContext> {
      const abort = new AbortController()
      let timedOut = false
      const timer = timeoutMs > 0 ? setTimeout(() => ((timedOut = true), abort.abort()), timeoutMs) : undefined
      const slowTimer = slow && (timeoutMs === 0 || timeoutMs > SLOW_NOTICE_MS) ? setTimeout(slow, SLOW_NOTICE_MS) : undefined
      // Neither timer keeps the process alive on its own: a pending request's socket does.
      timer?.unref()
      slowTimer?.unref()
      const settle = (): void => {
        clearTimeout(timer)
        clearTimeout(slowTimer)
      }
      const failed = (error: unknown): never => {
        settle()
        throw timedOut ? timeoutError(server, timeoutMs) : fetchError(server, error)
      }
      request.setSignal(abort.signal)
      let response: k8s.ResponseContext
      try {
        response = await inner.send(request).toPromise()
      } catch (error) {
        return failed(error)
      }
      const body = response.body
      const guarded = <T>(read: () => Promise<T>) => (): Promise<T> => read().then((v) => (settle(), v), failed)
      // (A streamed body, which the CLI does not read, is the caller's to bound.)
      return new lib.ResponseContext(response.httpStatusCode, response.headers, {text: guarded(() => body.text()), binary: guarded(() => body.binary()), stream: () => body.stream()})
    },
  })
}

/** Loads the kubeconfig the flags name; throws a ClusterError that says how to fix it. */
export async function loadKube(options: KubeOptions = {}): Promise<Kube> {
  const lib = await import('@kubernetes/client-node')
  const kc = new lib.KubeConfig()
  const inCluster = !options.kubeconfig && !process.env.KUBECONFIG && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') && process.env.KUBERNETES_SERVICE_HOST
  const path = options.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config')
  try {
    if (inCluster) kc.loadFromCluster()
    else {
      if (!existsSync(path)) {
        throw new ClusterError(`no kubeconfig at ${path}`, {
          code: 'MESH_NO_KUBECONFIG',
          suggestions: ['Pass --kubeconfig <file>, set KUBECONFIG, or point ~/.kube/config at your cluster.'],
        })
      }
      kc.loadFromFile(path)
    }
  } catch (error) {
    if (error instanceof ClusterError) throw error
    throw new ClusterError(`cannot read kubeconfig ${path}: ${(error as Error).message}`, {
      code: 'MESH_BAD_KUBECONFIG',
      suggestions: ['Check the file with `kubectl config view --kubeconfig ' + path + '`.'],
      cause: error,
    })
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new ClusterError(`context "${options.context}" is not in ${path}`, {
        code: 'MESH_NO_CONTEXT',
        suggestions: [`List the contexts with \`kubectl config get-contexts --kubeconfig ${path}\`.`],
      })
    }
    kc.setCurrentContext(options.context)
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster) {
    throw new ClusterError(`the kubeconfig ${path} has no current cluster`, {
      code: 'MESH_NO_CLUSTER',
      suggestions: ['Pass --context <name>, or set one with `kubectl config use-context`.'],
    })
  }
  const contextNs = kc.getContextObject(kc.getCurrentContext())?.namespace
  const namespace = options.namespace ?? contextNs ?? 'default'
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  let told = false
  const slow = options.progress && ((): void => {
    if (told) return
    told = true
    const limit = requestTimeoutMs > 0 ? `gives up after ${describeTimeout(requestTimeoutMs)}` : 'no limit (--request-timeout 0)'
    options.progress!(`still waiting for the API server at ${cluster.server} to answer (${limit})`)
  })
  // makeApiClient's configuration, with the deadline in its HTTP library.
  const configuration = lib.createConfiguration({
    baseServer: new lib.ServerConfiguration(cluster.server, {}),
    authMethods: {default: kc},
    httpApi: deadlineHttp(lib, cluster.server, requestTimeoutMs, slow),
  })
  const cache = new Map<unknown, unknown>()
  const api = <T>(ctor: new (config: k8s.Configuration) => T): T => {
    if (!cache.has(ctor)) cache.set(ctor, new ctor(configuration))
    return cache.get(ctor) as T
  }
  return {
    k8s: lib,
    kc,
    namespace,
    server: cluster.server,
    requestTimeoutMs,
    api,
    core: () => api(lib.CoreV1Api),
    apps: () => api(lib.AppsV1Api),
    objects: () => {
      if (!cache.has('objects')) {
        const client = new lib.KubernetesObjectApi(configuration)
        // What KubernetesObjectApi.makeApiClient does besides the configuration (protected there).
        ;(client as unknown as {setDefaultNamespace(kc: k8s.KubeConfig): string}).setDefaultNamespace(kc)
        cache.set('objects', client)
      }
      return cache.get('objects') as k8s.KubernetesObjectApi
    },
  }
}

/** The HTTP status of an error thrown by client-node (1.x ApiException), if any. */
export function apiStatus(error: unknown): number | undefined {
  const e = error as {code?: unknown; statusCode?: unknown; response?: {statusCode?: unknown}}
  if (typeof e?.code === 'number') return e.code
  if (typeof e?.statusCode === 'number') return e.statusCode
  if (typeof e?.response?.statusCode === 'number') return e.response.statusCode
  return undefined
}

/** Turns a client-node failure into a ClusterError naming what we tried. */
export function clusterError(action: string, error: unknown, server?: string): ClusterError {
  if (error instanceof MeshError) return new ClusterError(`${action}: ${error.message}`, {code: error.code, suggestions: error.suggestions, cause: error})
  const status = apiStatus(error)
  const e = error as {body?: unknown; message?: string; code?: string}
  let detail = e?.message ?? String(error)
  if (typeof e?.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as {message?: string}).message ?? detail
    } catch {
      // keep the message
    }
  }
  const suggestions: string[] = []
  if (status === 401) suggestions.push('Your credentials were refused: refresh them, or check --kubeconfig/--context.')
  else if (status === 403) suggestions.push('Ask a cluster admin for the RBAC permission named above.')
  else if (status === undefined) suggestions.push(`Check that the API server${server ? ` at ${server}` : ''} is reachable: \`kubectl version\`.`)
  return new ClusterError(`${action}: ${detail.split('\n')[0]}`, {code: status ? `MESH_API_${status}` : 'MESH_API_UNREACHABLE', suggestions, cause: error})
}
