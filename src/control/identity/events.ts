// Kubernetes Events on the ServiceAccount a certificate was issued for (or refused to), so
// `kubectl describe sa` shows the identity's history. Best effort: a failure is logged only.
import type * as k8s from '@kubernetes/client-node'
import type {Logger} from '../logger.js'
import type {ServiceAccountRef} from './tokens.js'

export interface EventRecorder {
  record(sa: ServiceAccountRef, type: 'Normal' | 'Warning', reason: string, message: string): void
}

export const noEvents: EventRecorder = {record: () => {}}

export class KubernetesEventRecorder implements EventRecorder {
  private readonly api: k8s.CoreV1Api

  constructor(lib: typeof k8s, kc: k8s.KubeConfig, private readonly log: Logger, private readonly component = 'mesh-identity') {
    this.api = kc.makeApiClient(lib.CoreV1Api)
  }

  record(sa: ServiceAccountRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = new Date()
    const body: k8s.CoreV1Event = {
      metadata: {generateName: `${sa.name}.`, namespace: sa.namespace},
      involvedObject: {apiVersion: 'v1', kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace, uid: sa.uid},
      type,
      reason,
      message: message.slice(0, 1024),
      source: {component: this.component},
      reportingComponent: this.component,
      reportingInstance: process.env.HOSTNAME ?? this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    }
    this.api.createNamespacedEvent({namespace: sa.namespace, body}).catch((err: unknown) => {
      this.log.warn('cannot record event', {serviceAccount: `${sa.namespace}/${sa.name}`, reason, error: (err as Error).message.split('\n')[0]})
    })
  }
}
