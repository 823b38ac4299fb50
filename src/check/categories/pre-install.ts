// pre-install: nothing of ours is there yet, and the user may create every kind of object the
// install creates (one SelfSubjectAccessReview per kind, so a failure names the exact kind).
import {requireKube} from '../context.js'
import {call, readOptional} from '../api-errors.js'
import type {Category, Check, CheckContext} from '../types.js'

export interface InstallKind {
  id: string
  /** Plural resource name, e.g. "clusterroles". */
  resource: string
  /** API group, "" for the core group. */
  group: string
  /** Human name for the description, e.g. "ClusterRoles". */
  kind: string
  namespaced: boolean
}

/** Every kind `mesh install` creates. Ids are stable: append, never renumber. */
export const INSTALL_KINDS: InstallKind[] = [
  {id: 'MESH1102', resource: 'namespaces', group: '', kind: 'Namespaces', namespaced: false},
  {id: 'MESH1103', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', kind: 'ClusterRoles', namespaced: false},
  {id: 'MESH1104', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBindings', namespaced: false},
  {id: 'MESH1105', resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinitions', namespaced: false},
  {id: 'MESH1106', resource: 'mutatingwebhookconfigurations', group: 'admissionregistration.k8s.io', kind: 'MutatingWebhookConfigurations', namespaced: false},
  {id: 'MESH1107', resource: 'serviceaccounts', group: '', kind: 'ServiceAccounts', namespaced: true},
  {id: 'MESH1108', resource: 'services', group: '', kind: 'Services', namespaced: true},
  {id: 'MESH1109', resource: 'deployments', group: 'apps', kind: 'Deployments', namespaced: true},
  {id: 'MESH1110', resource: 'secrets', group: '', kind: 'Secrets', namespaced: true},
  {id: 'MESH1111', resource: 'configmaps', group: '', kind: 'ConfigMaps', namespaced: true},
]

export async function canCreate(ctx: CheckContext, kind: InstallKind): Promise<{allowed: boolean; reason?: string}> {
  const kube = requireKube(ctx)
  const api = kube.api(kube.k8s.AuthorizationV1Api)
  const review = await call(`SelfSubjectAccessReview for create ${kind.resource}`, () =>
    api.createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: 'create',
            group: kind.group,
            resource: kind.resource,
            ...(kind.namespaced ? {namespace: ctx.options.controlPlaneNamespace} : {}),
          },
        },
      },
    }),
  )
  return {allowed: review.status?.allowed === true, reason: review.status?.reason || review.status?.evaluationError || undefined}
}

function canCreateCheck(kind: InstallKind): Check {
  const where = kind.namespaced ? ' in the control plane namespace' : ''
  return {
    id: kind.id,
    description: `can create ${kind.kind}${where}`,
    hint: `Ask a cluster admin for "create" on ${kind.resource}${kind.group ? `.${kind.group}` : ''}${where}, or run the install as a cluster admin.`,
    async run(ctx) {
      const {allowed, reason} = await canCreate(ctx, kind)
      if (!allowed) {
        const scope = kind.namespaced ? ` in namespace ${ctx.options.controlPlaneNamespace}` : ''
        throw new Error(`you may not create ${kind.resource}${kind.group ? `.${kind.group}` : ''}${scope}${reason ? ` (${reason})` : ''}`)
      }
    },
  }
}

export function preInstall(): Category {
  return {
    name: 'pre-install',
    checks: [
      {
        id: 'MESH1101',
        description: 'control plane namespace does not already exist',
        hint: 'mesh is already installed here: run `mesh check` and `mesh upgrade`, or `mesh uninstall` first.',
        async run(ctx) {
          const kube = requireKube(ctx)
          const ns = ctx.options.controlPlaneNamespace
          const found = await readOptional(`reading namespace ${ns}`, () => kube.core().readNamespace({name: ns}))
          if (found) {
            const phase = found.status?.phase === 'Terminating' ? ' (Terminating: wait for it to go)' : ''
            throw new Error(`namespace ${ns} already exists${phase}`)
          }
        },
      },
      ...INSTALL_KINDS.map(canCreateCheck),
    ],
  }
}
