// Where the tap server is: `resolveControlPlane(flags)`. A kube context the user names
// (--context) wins; else a running `mesh demo` (its local context file); else the kubeconfig's
// current context. In a cluster the CLI goes through the API server's service proxy with the
// user's own credentials; the token is also forwarded in X-Mesh-Caller-Token so the tap server
// can check the caller's RBAC (the API server strips Authorization before proxying). A user with
// a client certificate instead signs each request with its key (src/control/tap/caller-proof.ts).
import type {RequestOptions} from 'node:https'
import {CALLER_TOKEN_HEADER} from '../control/tap/api.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from '../lib/duration.js'
import {ClusterError} from '../lib/errors.js'
import {ControlPlane, TAP_SERVICE_PROXY_NAME} from '../protocol/control-plane.js'
import {readLocalContext} from './local-context.js'

export interface ControlPlaneFlags {
  kubeconfig?: string
  context?: string
  namespace?: string
  /** --request-timeout in ms (0: none); default DEFAULT_REQUEST_TIMEOUT_MS. */
  'request-timeout'?: number
}

export interface ControlPlaneTarget {
  mode: 'local' | 'kube'
  /** Base URL; API paths (/v1/stat, ...) are appended. */
  baseUrl: string
  /** The namespace commands default to. */
  namespace: string
  /** TLS and auth for every request (headers included). */
  requestOptions: RequestOptions & {headers: Record<string, string>}
  /** For messages: "the local demo (pid 123)", "cluster https://...". */
  description: string
  /** Set when the user authenticates with a client certificate: prove it to the tap server per request. */
  clientCertificate?: {certPem: string; keyPem: string}
  /** Deadline of each request (and of opening a stream), in ms; 0: none; default DEFAULT_REQUEST_TIMEOUT_MS. */
  timeoutMs?: number
}

export function tapServiceProxyPath(): string {
  return `/api/v1/namespaces/${ControlPlane.namespace}/services/${TAP_SERVICE_PROXY_NAME}/proxy`
}

export async function resolveControlPlane(flags: ControlPlaneFlags, env: NodeJS.ProcessEnv = process.env): Promise<ControlPlaneTarget> {
  const timeoutMs = flags['request-timeout'] ?? DEFAULT_REQUEST_TIMEOUT_MS
  if (!flags.context) {
    const local = readLocalContext(env)
    if (local.state === 'live') {
      const ctx = local.context
      return {
        mode: 'local',
        baseUrl: ctx.tap.replace(/\/+$/, ''),
        namespace: flags.namespace ?? ctx.namespace ?? 'default',
        requestOptions: {headers: {authorization: `Bearer ${ctx.token}`}},
        description: `the local demo (pid ${ctx.pid}, ${local.file})`,
        timeoutMs,
      }
    }
  }
  const {loadKube} = await import('../k8s/client.js')
  let kube
  try {
    kube = await loadKube({...flags, requestTimeoutMs: timeoutMs})
  } catch (err) {
    if (err instanceof ClusterError && !flags.context && !flags.kubeconfig) {
      throw new ClusterError(`${err.message}, and no \`mesh demo\` is running`, {
        code: err.code,
        suggestions: ['Start the local mesh with `mesh demo`, or point --kubeconfig/--context at a cluster with mesh installed.'],
        cause: err,
      })
    }
    throw err
  }
  const requestOptions: RequestOptions & {headers: Record<string, string>} = {headers: {}}
  await kube.kc.applyToHTTPSOptions(requestOptions)
  const headers = (requestOptions.headers ?? {}) as Record<string, string>
  const auth = headers.Authorization ?? headers.authorization
  const m = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth) : null
  if (m) headers[CALLER_TOKEN_HEADER] = m[1]
  requestOptions.headers = headers
  const pem = (v: unknown): string | undefined => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined)
  const certPem = pem(requestOptions.cert)
  const keyPem = pem(requestOptions.key)
  return {
    clientCertificate: !m && certPem && keyPem ? {certPem, keyPem} : undefined,
    mode: 'kube',
    baseUrl: kube.server.replace(/\/+$/, '') + tapServiceProxyPath(),
    namespace: kube.namespace,
    requestOptions,
    description: `cluster ${kube.server} (context ${kube.kc.getCurrentContext()})`,
    timeoutMs,
  }
}
