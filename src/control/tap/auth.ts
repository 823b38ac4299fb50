// Who may tap what. Locally: whoever holds the demo's token (a file only its user can read).
// In a cluster: the caller's bearer token, forwarded by the CLI in X-Mesh-Caller-Token (the API
// server's service proxy authenticates the caller but strips Authorization before forwarding),
// is checked with a TokenReview; a caller with a client certificate instead proves it holds the
// certificate's key (caller-proof.ts), checked against the API server's client CA. The user and
// groups either names must then pass a SubjectAccessReview for verb `watch` (tap, top) or `get` (stat, edges, authz) on the target in the
// API group tap.mesh.dev, e.g. `deployments/tap` in namespace shop. See docs/architecture/tap.md.
import {timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import type {Kube} from '../../k8s/client.js'
import {CALLER_TOKEN_HEADER} from './api.js'
import {hasProof, ProofError, verifyProof, type ProofRequest} from './caller-proof.js'
import {ReplayCache} from './replay-cache.js'
import type {ResourceKind, ResourceRef} from './resource.js'

export const TAP_API_GROUP = 'tap.mesh.dev'

export interface Caller {
  user: string
  groups: string[]
}

export interface AccessCheck {
  verb: 'watch' | 'get' | 'list'
  /** tap, stat, edges, authz */
  subresource: string
  resource: ResourceRef
  /** '' for cluster-wide (-A). */
  namespace: string
}

export class AccessDenied extends Error {
  readonly code: string
  constructor(
    readonly status: 401 | 403,
    message: string,
    readonly suggestions: string[] = [],
  ) {
    super(message)
    this.code = status === 401 ? 'MESH_TAP_UNAUTHENTICATED' : 'MESH_TAP_FORBIDDEN'
  }
}

export interface Authorizer {
  /** Resolves with the caller, or rejects with AccessDenied. `request`: the path and the query the server acts on. */
  authorize(req: IncomingMessage, check: AccessCheck, request?: ProofRequest): Promise<Caller>
}

function bearer(req: IncomingMessage, header: string): string | undefined {
  const v = req.headers[header]
  const s = Array.isArray(v) ? v[0] : v
  if (!s) return undefined
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(s.trim())
  return m ? m[1] : header === CALLER_TOKEN_HEADER ? s.trim().slice(0, 4096) : undefined
}

/** Local mode: the Authorization bearer must equal the demo's token. */
export class LocalTokenAuthorizer implements Authorizer {
  constructor(private readonly token: string) {}

  async authorize(req: IncomingMessage): Promise<Caller> {
    const got = Buffer.from(bearer(req, 'authorization') ?? '')
    const want = Buffer.from(this.token)
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new AccessDenied(401, 'the local tap server needs the token of the running demo', ['Run the command as the user who started `mesh demo` (it reads ~/.mesh/local.json).'])
    }
    return {user: 'local', groups: []}
  }
}

const RESOURCES: Record<ResourceKind, string> = {
  deployment: 'deployments', pod: 'pods', namespace: 'namespaces', statefulset: 'statefulsets', daemonset: 'daemonsets',
  job: 'jobs', service: 'services', replicaset: 'replicasets',
}

export function describeCheck(c: AccessCheck): string {
  const where = c.resource.kind === 'namespace' ? '' : c.namespace ? ` in namespace ${c.namespace}` : ' in all namespaces'
  return `${c.verb} ${RESOURCES[c.resource.kind]}/${c.subresource}${c.resource.name ? ` ${c.resource.name}` : ''} (API group ${TAP_API_GROUP})${where}`
}

export const CLIENT_CA_CONFIGMAP = {namespace: 'kube-system', name: 'extension-apiserver-authentication', key: 'client-ca-file'} as const

interface Reviewed {
  caller: Caller
  uid?: string
  extra?: Record<string, string[]>
}

/**
 * Cluster mode: who the caller is (TokenReview of the forwarded token, or the proof of a client
 * certificate's key against the API server's client CA), then a SubjectAccessReview.
 */
export class KubeAuthorizer implements Authorizer {
  private readonly replays = new ReplayCache()
  private ca?: {pem: string; at: number}

  constructor(
    private readonly kube: Kube,
    /** The API server's client CA bundle; default: read from kube-system, cached for a minute. */
    private readonly clientCa?: () => Promise<string>,
  ) {}

  private async clientCaPem(): Promise<string> {
    if (this.clientCa) return this.clientCa()
    if (this.ca && Date.now() - this.ca.at < 60_000) return this.ca.pem
    const {k8s, kc} = this.kube
    const {namespace, name, key} = CLIENT_CA_CONFIGMAP
    let pem: string | undefined
    try {
      const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({namespace, name})
      pem = cm.data?.[key]
    } catch (err) {
      throw new AccessDenied(401, `the tap server cannot read the API server's client CA (${namespace}/${name}): ${(err as Error).message.split('\n')[0].slice(0, 200)}`, [
        'The controller needs the role extension-apiserver-authentication-reader in kube-system; or use a kubeconfig user with a token.',
      ])
    }
    if (!pem) throw new AccessDenied(401, `the API server publishes no client CA (${namespace}/${name} has no ${key}): client certificates cannot be checked`, ['Use a kubeconfig user with a token.'])
    this.ca = {pem, at: Date.now()}
    return pem
  }

  private async whoByCertificate(req: IncomingMessage, request: ProofRequest | undefined): Promise<Reviewed> {
    if (!request) throw new AccessDenied(401, 'this request cannot carry a client certificate proof')
    const clientCaPem = await this.clientCaPem()
    try {
      const v = verifyProof({headers: req.headers, request, clientCaPem, remember: (k, exp) => this.replays.add(k, exp)})
      // The API server's x509 authenticator adds system:authenticated to every user it knows.
      return {caller: {user: v.user, groups: [...new Set([...v.groups, 'system:authenticated'])]}}
    } catch (err) {
      if (err instanceof ProofError) throw new AccessDenied(401, err.message, ['Check --kubeconfig/--context: the client certificate must be one the API server accepts.'])
      throw err
    }
  }

  private async whoByToken(req: IncomingMessage): Promise<Reviewed> {
    const token = bearer(req, CALLER_TOKEN_HEADER)
    if (!token) {
      throw new AccessDenied(401, `the tap server needs to know who you are: no ${CALLER_TOKEN_HEADER} header and no client certificate proof`, [
        'Use a kubeconfig user with a bearer token (token, exec or auth-provider credentials) or a client certificate, and a current mesh CLI.',
      ])
    }
    const {k8s, kc} = this.kube
    const authn = kc.makeApiClient(k8s.AuthenticationV1Api)
    const review = await authn.createTokenReview({body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {token}}})
    if (!review.status?.authenticated || !review.status.user?.username) {
      throw new AccessDenied(401, `your token was not accepted by the API server${review.status?.error ? `: ${review.status.error}` : ''}`, [
        'Refresh your credentials, or check --kubeconfig/--context.',
      ])
    }
    const user = review.status.user
    return {caller: {user: user.username!, groups: user.groups ?? []}, uid: user.uid, extra: user.extra}
  }

  async authorize(req: IncomingMessage, check: AccessCheck, request?: ProofRequest): Promise<Caller> {
    const {caller, uid, extra} = hasProof(req.headers) ? await this.whoByCertificate(req, request) : await this.whoByToken(req)
    const {k8s, kc} = this.kube
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api)
    const isNs = check.resource.kind === 'namespace'
    const sar = await authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: caller.user,
          groups: caller.groups,
          uid,
          extra,
          resourceAttributes: {
            group: TAP_API_GROUP,
            resource: RESOURCES[check.resource.kind],
            subresource: check.subresource,
            verb: check.verb,
            name: check.resource.name,
            namespace: isNs ? check.resource.name : check.namespace,
          },
        },
      },
    })
    if (!sar.status?.allowed) {
      throw new AccessDenied(403, `user ${caller.user} may not ${describeCheck(check)}${sar.status?.reason ? `: ${sar.status.reason}` : ''}`, [
        `Ask a cluster admin to bind you to a role allowing verb "${check.verb}" on "${RESOURCES[check.resource.kind]}/${check.subresource}" in API group ${TAP_API_GROUP}.`,
      ])
    }
    return caller
  }
}
