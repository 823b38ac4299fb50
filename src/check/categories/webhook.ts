// mesh-webhook: the injector's serving certificate is valid for the name the API server calls,
// and the webhook configuration's caBundle validates it.
import type {X509Certificate} from 'node:crypto'
import {isIP} from 'node:net'
import {ControlPlane} from '../../protocol/control-plane.js'
import {readOptional} from '../api-errors.js'
import {assertChainsTo, assertCurrent, assertKeyMatches, assertNotExpiringSoon, parseBundle, subjectOf} from '../certs.js'
import {requireKube} from '../context.js'
import {readSecretKey, SecretKeys} from '../control-plane-objects.js'
import type {Category, CheckContext} from '../types.js'

async function servingCert(ctx: CheckContext): Promise<{chain: X509Certificate[]; what: string}> {
  const what = `injector serving certificate in Secret ${ctx.options.controlPlaneNamespace}/${ControlPlane.injectorTlsSecret}`
  return {chain: parseBundle(await readSecretKey(ctx, ControlPlane.injectorTlsSecret, SecretKeys.cert), what), what}
}

/** The host the API server dials: the webhook URL's, else `<service>.<namespace>.svc`. */
export function webhookHost(clientConfig: {url?: string; service?: {name: string; namespace: string}}): string | undefined {
  if (clientConfig.url) return new URL(clientConfig.url).hostname.replace(/^\[|\]$/g, '')
  if (clientConfig.service) return `${clientConfig.service.name}.${clientConfig.service.namespace}.svc`
  return undefined
}

export function assertCoversHost(cert: X509Certificate, host: string, what: string): void {
  const ok = isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined
  if (!ok) throw new Error(`${what} (${subjectOf(cert)}) is not valid for ${host} (SANs: ${cert.subjectAltName ?? 'none'})`)
}

export function webhook(): Category {
  return {
    name: 'mesh-webhook',
    checks: [
      {
        id: 'MESH2201',
        description: 'proxy injector serving certificate is valid',
        hint: 'Re-issue the injector certificate with `mesh upgrade`; the webhook caBundle must hold the CA that signed it.',
        async run(ctx) {
          const kube = requireKube(ctx)
          const {chain, what} = await servingCert(ctx)
          const leaf = chain[0]!
          assertCurrent(leaf, what, ctx.now())
          assertKeyMatches(leaf, await readSecretKey(ctx, ControlPlane.injectorTlsSecret, SecretKeys.key), what)
          const api = kube.kc.makeApiClient(kube.k8s.AdmissionregistrationV1Api)
          const name = ControlPlane.webhookConfiguration
          const config = await readOptional(`reading MutatingWebhookConfiguration ${name}`, () => api.readMutatingWebhookConfiguration({name}))
          if (!config) throw new Error(`MutatingWebhookConfiguration ${name} not found: nothing calls the injector`)
          for (const h of config.webhooks ?? []) {
            const host = webhookHost(h.clientConfig)
            if (host) assertCoversHost(leaf, host, what)
            if (!h.clientConfig.caBundle) throw new Error(`webhook ${h.name} has no caBundle`)
            const bundle = parseBundle(Buffer.from(h.clientConfig.caBundle, 'base64').toString('utf8'), `caBundle of webhook ${h.name}`)
            // A self-signed serving certificate may be its own caBundle.
            if (!bundle.some((b) => b.raw.equals(leaf.raw))) assertChainsTo(chain, bundle, `${what}, checked against the caBundle of webhook ${h.name},`, ctx.now())
          }
        },
      },
      {
        id: 'MESH2202',
        description: 'proxy injector serving certificate is not expiring soon',
        hint: 'Re-issue the injector certificate with `mesh upgrade` before it expires: the API server stops calling the injector after that.',
        warning: true,
        async run(ctx) {
          const {chain, what} = await servingCert(ctx)
          assertNotExpiringSoon(chain[0]!, what, ctx.now(), ctx.options.expiryWarningMs)
        },
      },
    ],
  }
}
