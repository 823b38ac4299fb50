// control-plane-existence: the namespace, config, RBAC and webhook configuration `mesh install`
// creates are there, and the controller's pods are ready (read from Pod status).
import type {V1Pod} from '@kubernetes/client-node'
import {configFromConfigMapData, MESH_CONFIG_KEY} from '../../inject/config.js'
import {ControlPlane} from '../../protocol/control-plane.js'
import {call, readOptional} from '../api-errors.js'
import {readConfigMapKey, readController} from '../control-plane-objects.js'
import {requireKube} from '../context.js'
import type {Category} from '../types.js'

/** Why a pod is not ready, or undefined when it is Running with condition Ready=True. */
export function podNotReady(pod: V1Pod): string | undefined {
  const phase = pod.status?.phase ?? 'Pending'
  if (phase !== 'Running') return `phase ${phase}`
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status !== 'True') {
    const waiting = pod.status?.containerStatuses?.filter((c) => !c.ready).map((c) => c.name)
    return `not ready${waiting && waiting.length > 0 ? ` (containers not ready: ${waiting.join(', ')})` : ready?.reason ? ` (${ready.reason})` : ''}`
  }
  return undefined
}

export function controlPlane(): Category {
  const reinstall = 'Re-create it with `mesh install | kubectl apply -f -` (or `mesh upgrade`).'
  return {
    name: 'mesh-existence',
    checks: [
      {
        id: 'MESH2001',
        description: 'control plane namespace exists',
        hint: 'Install the control plane: `mesh install | kubectl apply -f -`, or pass the namespace it lives in.',
        fatal: true,
        async run(ctx) {
          const kube = requireKube(ctx)
          const ns = ctx.options.controlPlaneNamespace
          const found = await readOptional(`reading namespace ${ns}`, () => kube.core().readNamespace({name: ns}))
          if (!found) throw new Error(`namespace ${ns} not found`)
          if (found.status?.phase === 'Terminating') throw new Error(`namespace ${ns} is being deleted`)
        },
      },
      {
        id: 'MESH2002',
        description: 'control plane config exists and is valid',
        hint: reinstall,
        async run(ctx) {
          const raw = await readConfigMapKey(ctx, ControlPlane.configMap, MESH_CONFIG_KEY)
          configFromConfigMapData({[MESH_CONFIG_KEY]: raw}, `ConfigMap ${ctx.options.controlPlaneNamespace}/${ControlPlane.configMap}`)
        },
      },
      {
        id: 'MESH2003',
        description: 'controller ServiceAccount exists',
        hint: reinstall,
        async run(ctx) {
          const kube = requireKube(ctx)
          const ns = ctx.options.controlPlaneNamespace
          const sa = await readOptional(`reading ServiceAccount ${ns}/${ControlPlane.controller}`, () =>
            kube.core().readNamespacedServiceAccount({name: ControlPlane.controller, namespace: ns}),
          )
          if (!sa) throw new Error(`ServiceAccount ${ns}/${ControlPlane.controller} not found`)
        },
      },
      {
        id: 'MESH2004',
        description: 'controller ClusterRole and ClusterRoleBinding exist',
        hint: reinstall,
        async run(ctx) {
          const kube = requireKube(ctx)
          const rbac = kube.api(kube.k8s.RbacAuthorizationV1Api)
          const name = ControlPlane.controller
          const role = await readOptional(`reading ClusterRole ${name}`, () => rbac.readClusterRole({name}))
          if (!role) throw new Error(`ClusterRole ${name} not found`)
          const binding = await readOptional(`reading ClusterRoleBinding ${name}`, () => rbac.readClusterRoleBinding({name}))
          if (!binding) throw new Error(`ClusterRoleBinding ${name} not found`)
          const ns = ctx.options.controlPlaneNamespace
          if (binding.roleRef.kind !== 'ClusterRole' || binding.roleRef.name !== name) {
            throw new Error(`ClusterRoleBinding ${name} refers to ${binding.roleRef.kind} ${binding.roleRef.name}, not ClusterRole ${name}`)
          }
          if (!binding.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === ns)) {
            throw new Error(`ClusterRoleBinding ${name} does not bind ServiceAccount ${ns}/${name}`)
          }
        },
      },
      {
        id: 'MESH2005',
        description: 'proxy injector webhook configuration exists',
        hint: `${reinstall} Without it, new pods start without a proxy.`,
        async run(ctx) {
          const kube = requireKube(ctx)
          const api = kube.api(kube.k8s.AdmissionregistrationV1Api)
          const name = ControlPlane.webhookConfiguration
          const config = await readOptional(`reading MutatingWebhookConfiguration ${name}`, () => api.readMutatingWebhookConfiguration({name}))
          if (!config) throw new Error(`MutatingWebhookConfiguration ${name} not found`)
          const hooks = config.webhooks ?? []
          if (hooks.length === 0) throw new Error(`MutatingWebhookConfiguration ${name} has no webhooks`)
          for (const h of hooks) {
            if (!h.clientConfig.caBundle) throw new Error(`webhook ${h.name} in ${name} has no caBundle`)
            if (!h.clientConfig.url && !h.clientConfig.service) throw new Error(`webhook ${h.name} in ${name} names neither a service nor a URL`)
          }
        },
      },
      {
        id: 'MESH2006',
        description: 'controller pods are ready',
        hint: 'Look at the pods: `kubectl -n mesh-system get pods` and `kubectl -n mesh-system describe pod -l <selector>`.',
        retryDeadline: 5 * 60_000,
        async run(ctx) {
          const kube = requireKube(ctx)
          const ns = ctx.options.controlPlaneNamespace
          const deployment = await readController(ctx)
          const labels = deployment.spec?.selector?.matchLabels ?? {}
          const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')
          if (!selector) throw new Error(`Deployment ${ns}/${ControlPlane.controller} has no matchLabels selector`)
          const pods = await call(`listing pods in ${ns}`, () => kube.core().listNamespacedPod({namespace: ns, labelSelector: selector}))
          const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp)
          if (live.length === 0) throw new Error(`no ${ControlPlane.controller} pods (selector ${selector})`)
          const bad = live.flatMap((p) => {
            const why = podNotReady(p)
            return why ? [`${p.metadata?.name}: ${why}`] : []
          })
          if (bad.length > 0) throw new Error(`${bad.length} of ${live.length} pods not ready: ${bad.slice(0, 5).join('; ')}`)
        },
      },
    ],
  }
}
