// The injector as a component of `mesh controller` (src/control/controller.ts): it takes the
// issuer source the identity component already started and connects to the API server itself.
import {isIP} from 'node:net'
import type {IssuerSource} from '../identity/issuer.js'
import type {Logger} from '../logger.js'
import type {Registry} from '../../metrics/index.js'
import {startInjector, type Injector} from './index.js'

export interface InjectorComponentOptions {
  issuer: IssuerSource
  kube?: {kubeconfig?: string; context?: string}
  host?: string
  /** Default 8443 (ControlPlanePorts.injector). */
  port?: number
  controlPlaneNamespace?: string
  /** Extra serving-certificate names, e.g. 127.0.0.1 when the webhook URL points there. */
  extraNames?: string[]
  registry?: Registry
  log: Logger
}

export interface InjectorComponent {
  name: 'injector'
  start(): Promise<void>
  stop(): Promise<void>
  /** Set once started. */
  injector?: Injector
}

export function injectorComponent(o: InjectorComponentOptions): InjectorComponent {
  const component: InjectorComponent = {
    name: 'injector',
    start: async () => {
      const {loadKube} = await import('../../k8s/client.js')
      const kube = await loadKube({kubeconfig: o.kube?.kubeconfig, context: o.kube?.context})
      component.injector = await startInjector({
        issuer: o.issuer,
        kc: kube.kc,
        lib: kube.k8s,
        log: o.log,
        host: o.host,
        port: o.port,
        controlPlaneNamespace: o.controlPlaneNamespace,
        extraNames: [...(o.extraNames ?? []), ...listenNames(o.host)],
        registry: o.registry,
      })
    },
    stop: async () => {
      await component.injector?.stop()
      component.injector = undefined
    },
  }
  return component
}

/** A specific listen IP (e.g. 127.0.0.1 for a controller outside the cluster) is a name the API server may dial. */
export function listenNames(host: string | undefined): string[] {
  if (!host || !isIP(host) || host === '0.0.0.0' || host === '::') return []
  return [host]
}
