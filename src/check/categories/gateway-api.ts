// gateway-api: are the HTTPRoute and GRPCRoute CRDs installed, at which release, serving which
// versions? Warnings only: mesh runs without them (no routes apply), and never installs them
// (they belong to the cluster); the hint gives the command that does.
import {requireKube} from '../context.js'
import {readOptional} from '../api-errors.js'
import {apiStatus} from '../../k8s/client.js'
import {GATEWAY_API_INSTALL, GATEWAY_GROUP, GATEWAY_VERSION} from '../../routes/validate.js'
import {CheckWarning, type Category, type Check} from '../types.js'

const BUNDLE_ANNOTATION = `${GATEWAY_GROUP}/bundle-version`
const CHANNEL_ANNOTATION = `${GATEWAY_GROUP}/channel`

interface CrdVersion {
  name: string
  served?: boolean
  schema?: {openAPIV3Schema?: {properties?: {spec?: {properties?: {rules?: {items?: {properties?: Record<string, unknown>}}}}}}}
}

function crdCheck(id: string, kind: 'HTTPRoute' | 'GRPCRoute', plural: string): Check {
  const name = `${plural}.${GATEWAY_GROUP}`
  const check: Check = {
    id,
    description: `${kind} CRD is installed`,
    warning: true,
    hint: `mesh applies ${kind}s whose parent is a Service once the Gateway API CRDs are installed; they belong to the cluster and mesh never installs them. Install them with: ${GATEWAY_API_INSTALL}`,
    async run(ctx) {
      const kube = requireKube(ctx)
      const api = kube.api(kube.k8s.ApiextensionsV1Api)
      let crd
      try {
        crd = await readOptional(`read CustomResourceDefinition ${name}`, () => api.readCustomResourceDefinition({name}))
      } catch (err) {
        if (apiStatus((err as Error).cause) === 403) throw new CheckWarning(`cannot tell whether ${name} is installed: you may not read CustomResourceDefinitions`)
        throw err
      }
      if (!crd) throw new Error(`${name} is not installed: no ${kind}s apply`)
      const versions = (crd.spec.versions ?? []) as CrdVersion[]
      const served = versions.filter((v) => v.served).map((v) => v.name)
      const bundle = crd.metadata?.annotations?.[BUNDLE_ANNOTATION] ?? 'unknown release'
      const channel = crd.metadata?.annotations?.[CHANNEL_ANNOTATION]
      const found = `${bundle}${channel ? `, ${channel} channel` : ''}, serves ${served.join(', ') || 'nothing'}`
      if (!served.includes(GATEWAY_VERSION)) throw new Error(`${name} (${found}) does not serve ${GATEWAY_VERSION}, which mesh reads: install a newer Gateway API release`)
      const v1 = versions.find((v) => v.name === GATEWAY_VERSION)
      const retry = kind === 'HTTPRoute' ? (v1?.schema?.openAPIV3Schema?.properties?.spec?.properties?.rules?.items?.properties?.retry ? '; retries: the retry field' : '; retries: retry.mesh.dev annotations') : ''
      check.description = `${kind} CRD is installed (${found}${retry})`
    },
  }
  return check
}

export function gatewayApi(): Category {
  return {name: 'gateway-api', checks: [crdCheck('MESH1301', 'HTTPRoute', 'httproutes'), crdCheck('MESH1302', 'GRPCRoute', 'grpcroutes')]}
}
