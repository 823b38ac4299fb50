// pre-kubernetes-capability: would the API server admit a meshed pod? The init container
// `mesh-init` needs NET_ADMIN and NET_RAW; Pod Security "baseline" and "restricted" reject it.
// Both checks are warnings: a cluster may mesh only namespaces that allow it.
import {randomBytes} from 'node:crypto'
import type {V1Pod} from '@kubernetes/client-node'
import {apiStatus} from '../../k8s/client.js'
import {requireKube} from '../context.js'
import {call, describeApiError} from '../api-errors.js'
import {CheckWarning, type Category} from '../types.js'

export const PSA_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce'
/** Pod Security levels that forbid adding NET_ADMIN / NET_RAW. */
const REJECTING_LEVELS = new Set(['baseline', 'restricted'])

const ALTERNATIVE =
  `Label the namespaces you mesh \`${PSA_ENFORCE_LABEL}=privileged\` (kubectl label ns <ns> ${PSA_ENFORCE_LABEL}=privileged --overwrite), ` +
  'or add them to the PodSecurity admission exemptions; pods in other namespaces cannot carry the mesh-init init container.'

function probePod(name: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, labels: {'mesh.dev/check': 'capability'}},
    spec: {
      automountServiceAccountToken: false,
      initContainers: [
        {
          name: 'mesh-init',
          image: 'mesh-check-probe',
          securityContext: {capabilities: {add: ['NET_ADMIN', 'NET_RAW']}, runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false},
        },
      ],
      containers: [{name: 'app', image: 'mesh-check-probe'}],
    },
  }
}

export function capability(): Category {
  return {
    name: 'pre-kubernetes-capability',
    checks: [
      {
        id: 'MESH1201',
        description: 'pods with the NET_ADMIN init container are admitted',
        hint: ALTERNATIVE,
        warning: true,
        async run(ctx) {
          const kube = requireKube(ctx)
          const ns = ctx.options.namespace ?? kube.namespace
          const name = `mesh-check-capability-${randomBytes(4).toString('hex')}`
          try {
            // A server-side dry run goes through admission (PodSecurity included) and stores nothing.
            await kube.core().createNamespacedPod({namespace: ns, body: probePod(name), dryRun: 'All'})
          } catch (error) {
            const message = describeApiError(`creating a pod in namespace ${ns} (dry run)`, error)
            if (apiStatus(error) === 403 && /PodSecurity/i.test(message)) {
              throw new Error(`namespace ${ns} rejects the mesh-init init container (NET_ADMIN, NET_RAW): ${message.replace(/^.*?forbidden \(/, '').replace(/\)$/, '')}`, {cause: error})
            }
            if (apiStatus(error) === 403) throw new CheckWarning(`cannot tell: you may not create pods in namespace ${ns}`, {cause: error})
            throw new Error(message, {cause: error})
          }
        },
      },
      {
        id: 'MESH1202',
        description: 'no namespace enforces a Pod Security level that rejects the init container',
        hint: ALTERNATIVE,
        warning: true,
        async run(ctx) {
          const kube = requireKube(ctx)
          const list = await call('listing namespaces', () => kube.core().listNamespace({labelSelector: PSA_ENFORCE_LABEL}))
          const rejecting = list.items
            .filter((n) => REJECTING_LEVELS.has(n.metadata?.labels?.[PSA_ENFORCE_LABEL] ?? ''))
            .filter((n) => n.metadata?.name !== 'kube-system')
            .map((n) => `${n.metadata?.name} (${n.metadata?.labels?.[PSA_ENFORCE_LABEL]})`)
          if (rejecting.length > 0) {
            const shown = rejecting.slice(0, 10).join(', ') + (rejecting.length > 10 ? `, and ${rejecting.length - 10} more` : '')
            throw new Error(`pods in these namespaces cannot be meshed: ${shown}`)
          }
        },
      },
    ],
  }
}
