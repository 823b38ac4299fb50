// Kubernetes mode: the issuer from the Secret `mesh-identity-issuer` (keys ca.crt, issuer.crt,
// issuer.key; or cert-manager's tls.crt, tls.key, ca.crt under the kubernetes.io/tls scheme)
// and the trust roots from the ConfigMap `mesh-identity-trust-roots` (key ca-bundle.crt; when
// absent, the Secret's ca.crt), both in the control plane namespace, watched and hot-reloaded
// (a renewal by cert-manager is picked up like any other update). A bad update is logged and
// the previous issuer kept.
import type * as k8s from '@kubernetes/client-node'
import {DEFAULT_ISSUER_SCHEME, ISSUER_SECRET, issuerSecretKeys, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_CONFIGMAP_KEY, type IssuerScheme} from '../../protocol/identity.js'
import {startInformer, type Informer} from '../informer.js'
import type {Logger} from '../logger.js'
import {IssuerError, IssuerHolder, loadIssuer, type IssuerSource, type IssuerState} from './issuer.js'

export interface KubernetesIssuerOptions {
  lib: typeof k8s
  kc: k8s.KubeConfig
  namespace: string
  secretName?: string
  configMapName?: string
  log: Logger
  /** How long start() waits for the Secret (default 30 s). */
  startTimeoutMs?: number
  /** The Secret's layout (default mesh.dev/tls; kubernetes.io/tls: cert-manager's tls.crt, tls.key, ca.crt). */
  scheme?: IssuerScheme
}

export class KubernetesIssuerSource implements IssuerSource {
  private readonly holder = new IssuerHolder()
  private secrets: Informer<k8s.V1Secret> | undefined
  private configMaps: Informer<k8s.V1ConfigMap> | undefined
  private readonly secretName: string
  private readonly configMapName: string
  private started = false

  constructor(private readonly o: KubernetesIssuerOptions) {
    this.secretName = o.secretName ?? ISSUER_SECRET
    this.configMapName = o.configMapName ?? TRUST_ROOTS_CONFIGMAP
  }

  async start(): Promise<void> {
    const {lib, kc, namespace, log} = this.o
    const core = kc.makeApiClient(lib.CoreV1Api)
    const onEvent = (): void => {
      if (!this.started) return
      try {
        this.reload()
      } catch (err) {
        log.warn('issuer update refused; keeping the previous issuer', {error: (err as Error).message})
      }
    }
    this.secrets = startInformer<k8s.V1Secret>({
      lib, kc, log, onEvent, name: 'issuer-secret',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector: `metadata.name=${this.secretName}`,
      list: () => core.listNamespacedSecret({namespace, fieldSelector: `metadata.name=${this.secretName}`}),
    })
    this.configMaps = startInformer<k8s.V1ConfigMap>({
      lib, kc, log, onEvent, name: 'trust-roots',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      fieldSelector: `metadata.name=${this.configMapName}`,
      list: () => core.listNamespacedConfigMap({namespace, fieldSelector: `metadata.name=${this.configMapName}`}),
    })
    const timeoutMs = this.o.startTimeoutMs ?? 30_000
    let timer: NodeJS.Timeout | undefined
    const synced = await Promise.race([
      Promise.all([this.secrets.synced, this.configMaps.synced]).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ])
    clearTimeout(timer)
    if (!synced) {
      await this.stop()
      throw new IssuerError(`cannot list Secret ${namespace}/${this.secretName} and ConfigMap ${namespace}/${this.configMapName} within ${timeoutMs} ms (API server reachable? RBAC: get/list/watch secrets and configmaps in ${namespace})`)
    }
    try {
      this.reload()
    } catch (err) {
      await this.stop()
      throw err
    }
    this.started = true
  }

  /** Rebuilds the issuer from the cached Secret and ConfigMap; throws IssuerError when unusable. */
  private reload(): void {
    const ns = this.o.namespace
    const scheme = this.o.scheme ?? DEFAULT_ISSUER_SCHEME
    const keys = issuerSecretKeys(scheme)
    const secret = this.secrets?.get(this.secretName, ns)
    if (!secret) {
      const who = scheme === 'kubernetes.io/tls' ? 'a cert-manager Certificate with this secretName does' : 'mesh install does'
      throw new IssuerError(`Secret ${ns}/${this.secretName} not found: create it with keys ${Object.values(keys).join(', ')} (${who})`)
    }
    const data = secret.data ?? {}
    const field = (k: string): string => {
      const v = data[k]
      if (!v) throw new IssuerError(`Secret ${ns}/${this.secretName} has no key ${k} (issuer scheme ${scheme} reads ${Object.values(keys).join(', ')})`)
      return Buffer.from(v, 'base64').toString('utf8')
    }
    const bundle = this.configMaps?.get(this.configMapName, ns)?.data?.[TRUST_ROOTS_CONFIGMAP_KEY]
    const state = loadIssuer({
      anchorsPem: bundle ?? field(keys.anchor),
      issuerCertPem: field(keys.cert),
      issuerKeyPem: field(keys.key),
      source: `secret ${ns}/${this.secretName}${scheme === DEFAULT_ISSUER_SCHEME ? '' : ` (${scheme})`}${bundle ? ` + configmap ${ns}/${this.configMapName}` : ''}`,
    })
    if (this.holder.set(state)) this.o.log.info('issuer loaded', {source: state.source, notAfter: state.notAfter.toISOString()})
  }

  current(): IssuerState | undefined {
    return this.holder.current()
  }

  onChange(listener: (s: IssuerState) => void): () => void {
    return this.holder.onChange(listener)
  }

  async stop(): Promise<void> {
    await Promise.all([this.secrets?.stop(), this.configMaps?.stop()])
  }
}
