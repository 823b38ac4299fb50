// The identity component: an issuer source, a token validator and the certify server, with
// the controller's own serving certificate. Local and Kubernetes modes differ only in the
// source and the validator they pass in.
import {identityName} from '../../protocol/proxy-env.js'
import {CONTROLLER_SERVICE_ACCOUNT} from '../../protocol/identity.js'
import type {Logger} from '../logger.js'
import type {EventRecorder} from './events.js'
import type {IssuerSource} from './issuer.js'
import {startIdentityServer, type RunningServer} from './server.js'
import {ServingCert} from './serving-cert.js'
import type {TokenValidator} from './tokens.js'

export interface IdentityServiceOptions {
  issuer: IssuerSource
  validator: TokenValidator
  events?: EventRecorder
  host?: string
  port?: number
  controlPlaneNamespace?: string
  trustDomain?: string
  leafLifetimeMs?: number
  /** The name in the service's own certificate (default mesh-controller.<cp-ns>.serviceaccount...). */
  serviceName?: string
  log: Logger
}

export interface IdentityService {
  port: number
  serviceName: string
  /** The serving certificate, also used by the destination server. */
  serving: ServingCert
  stop(): Promise<void>
}

export function controllerIdentityName(controlPlaneNamespace = 'mesh-system', trustDomain = 'cluster.local'): string {
  return identityName(CONTROLLER_SERVICE_ACCOUNT, controlPlaneNamespace, controlPlaneNamespace, trustDomain)
}

/** Starts the issuer source (throws if the issuer cannot be loaded) and the certify server. */
export async function startIdentityService(opts: IdentityServiceOptions): Promise<IdentityService> {
  const cpNs = opts.controlPlaneNamespace ?? 'mesh-system'
  const trustDomain = opts.trustDomain ?? 'cluster.local'
  const serviceName = opts.serviceName ?? controllerIdentityName(cpNs, trustDomain)
  await opts.issuer.start()
  const serving = new ServingCert({name: serviceName, issuer: opts.issuer, log: opts.log})
  let server: RunningServer | undefined
  try {
    await serving.start()
    server = await startIdentityServer({
      issuer: opts.issuer,
      validator: opts.validator,
      events: opts.events,
      controlPlaneNamespace: cpNs,
      trustDomain,
      leafLifetimeMs: opts.leafLifetimeMs,
      log: opts.log,
      host: opts.host,
      port: opts.port,
      serving,
    })
  } catch (err) {
    serving.stop()
    await opts.issuer.stop()
    throw err
  }
  const s = server
  opts.log.info('identity service listening', {port: s.port, name: serviceName, issuer: opts.issuer.current()?.source})
  return {
    port: s.port,
    serviceName,
    serving,
    stop: async () => {
      await s.close()
      serving.stop()
      await opts.issuer.stop()
    },
  }
}

export {FileIssuerSource, readIssuerDir, LOCAL_IDENTITY_FILES} from './file-issuer.js'
export {ensureLocalIdentityDir, type LocalIdentityDir} from './local-dir.js'
export {issueLocalToken, LocalTokenValidator, newLocalTokenSecret} from './local-tokens.js'
export {loadIssuer, IssuerError, type IssuerSource, type IssuerState} from './issuer.js'
export {TokenError, TokenReviewError, type TokenValidator, type ServiceAccountRef} from './tokens.js'
export {noEvents, type EventRecorder} from './events.js'
export {ServingCert} from './serving-cert.js'
