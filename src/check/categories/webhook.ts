// mesh-webhook: the certificate the injector serves is valid for the host the API server
// dials and is validated by the webhook's caBundle. Where it comes from:
// - clientConfig.url: read from the injector itself, with a TLS handshake (what the API server sees);
// - a Service, with Secret mesh-proxy-injector-k8s-tls present: that Secret's certificate;
// - a Service otherwise: the controller signs it in memory with the identity issuer at start-up,
//   so the caBundle must validate the current issuer.
import type {X509Certificate} from 'node:crypto'
import {isIP} from 'node:net'
import type {V1MutatingWebhook, V1MutatingWebhookConfiguration} from '@kubernetes/client-node'
import {ControlPlane} from '../../protocol/control-plane.js'
import {readOptional} from '../api-errors.js'
import {assertChainsTo, assertCurrent, assertCurrentCa, assertKeyMatches, assertNotExpiringSoon, parseBundle, subjectOf} from '../certs.js'
import {requireKube} from '../context.js'
import {readIssuerKey, readSecret, secretValue, TlsSecretKeys} from '../control-plane-objects.js'
import {readPeerCertificate} from '../data-plane/peer-cert.js'
import type {Category, CheckContext} from '../types.js'
import {notAfter, notBefore} from '../../tls/pem.js'

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

async function readWebhookConfig(ctx: CheckContext): Promise<V1MutatingWebhookConfiguration> {
  const kube = requireKube(ctx)
  const api = kube.api(kube.k8s.AdmissionregistrationV1Api)
  const name = ControlPlane.webhookConfiguration
  const config = await readOptional(`reading MutatingWebhookConfiguration ${name}`, () => api.readMutatingWebhookConfiguration({name}))
  if (!config) throw new Error(`MutatingWebhookConfiguration ${name} not found: nothing calls the injector`)
  if (!config.webhooks?.length) throw new Error(`MutatingWebhookConfiguration ${name} has no webhooks`)
  return config
}

interface Served {
  chain: X509Certificate[]
  what: string
}

/** The serving certificate when it can be read; undefined when the controller signs it in memory. */
async function served(ctx: CheckContext, hook: V1MutatingWebhook): Promise<Served | undefined> {
  const url = hook.clientConfig.url
  if (url) {
    const u = new URL(url)
    const host = u.hostname.replace(/^\[|\]$/g, '')
    const port = Number(u.port || 443)
    let pem: string
    try {
      pem = await readPeerCertificate({host, port, servername: isIP(host) ? undefined : host}, Math.min(ctx.options.requestTimeoutMs || 5000, 5000))
    } catch (error) {
      throw new Error(`cannot read the injector's serving certificate from ${url}: ${(error as Error).message}`, {cause: error})
    }
    return {chain: parseBundle(pem, `serving certificate at ${url}`), what: `serving certificate at ${url}`}
  }
  const secret = await readSecret(ctx, ControlPlane.injectorTlsSecret).catch(() => undefined)
  const pem = secret && secretValue(secret, TlsSecretKeys.cert)
  if (!pem) return undefined
  const what = `injector serving certificate in Secret ${ctx.options.controlPlaneNamespace}/${ControlPlane.injectorTlsSecret}`
  const chain = parseBundle(pem, what)
  assertKeyMatches(chain[0]!, secretValue(secret, TlsSecretKeys.key) ?? '', what)
  return {chain, what}
}

async function issuerChain(ctx: CheckContext): Promise<Served> {
  const what = `issuer certificate in Secret ${ctx.options.controlPlaneNamespace}/${ControlPlane.issuerSecret} (which signs the injector's serving certificate)`
  return {chain: parseBundle(await readIssuerKey(ctx, 'cert'), what), what}
}

export function webhook(): Category {
  return {
    name: 'mesh-webhook',
    checks: [
      {
        id: 'MESH2201',
        description: 'proxy injector serving certificate is valid',
        hint: "The webhook's caBundle must hold the trust anchors that validate the injector's certificate: re-run `mesh upgrade`, and check the controller is running.",
        async run(ctx) {
          const config = await readWebhookConfig(ctx)
          for (const hook of config.webhooks!) {
            if (!hook.clientConfig.caBundle) throw new Error(`webhook ${hook.name} has no caBundle`)
            const bundle = parseBundle(Buffer.from(hook.clientConfig.caBundle, 'base64').toString('utf8'), `caBundle of webhook ${hook.name}`)
            const cert = await served(ctx, hook)
            const against = `, checked against the caBundle of webhook ${hook.name},`
            if (cert) {
              const leaf = cert.chain[0]!
              assertCurrent(leaf, cert.what, ctx.now())
              const host = webhookHost(hook.clientConfig)
              if (host) assertCoversHost(leaf, host, cert.what)
              // A self-signed serving certificate may be its own caBundle.
              if (!bundle.some((b) => b.raw.equals(leaf.raw))) assertChainsTo(cert.chain, bundle, cert.what + against, ctx.now())
            } else {
              const issuer = await issuerChain(ctx)
              assertCurrentCa(issuer.chain[0]!, issuer.what, ctx.now())
              assertChainsTo(issuer.chain, bundle, issuer.what + against, ctx.now())
            }
          }
        },
      },
      {
        id: 'MESH2202',
        description: 'proxy injector serving certificate is not expiring soon',
        hint: 'A short-lived serving certificate near its end means the controller stopped renewing it: look at its logs. A long-lived one: re-issue it with `mesh upgrade`.',
        warning: true,
        async run(ctx) {
          const config = await readWebhookConfig(ctx)
          for (const hook of config.webhooks!) {
            const cert = (await served(ctx, hook)) ?? (await issuerChain(ctx))
            const leaf = cert.chain[0]!
            // The controller renews its own 24 h certificate at 70 % of its life: warn when a
            // fifth of the life is left (renewal failed), or within the window for long-lived ones.
            const life = notAfter(leaf).getTime() - notBefore(leaf).getTime()
            assertNotExpiringSoon(leaf, cert.what, ctx.now(), Math.min(ctx.options.expiryWarningMs, life * 0.2))
          }
        },
      },
    ],
  }
}
