// identity: the trust anchors and the issuer are valid, chained, and not about to expire.
// Anchors come from the trust-roots ConfigMap; the issuer (certificate, key) from its Secret.
import {ControlPlane} from '../../protocol/control-plane.js'
import {configFromConfigMapData, MESH_CONFIG_KEY} from '../../inject/config.js'
import {assertChainsTo, assertCurrentCa, assertKeyMatches, assertNotExpiringSoon, parseBundle} from '../certs.js'
import {readConfigMapKey, readIssuerKey, TRUST_ROOTS_KEY} from '../control-plane-objects.js'
import type {Category, CheckContext} from '../types.js'

async function anchors(ctx: CheckContext) {
  const pem = await readConfigMapKey(ctx, ControlPlane.trustRootsConfigMap, TRUST_ROOTS_KEY)
  return parseBundle(pem, `trust anchors in ConfigMap ${ctx.options.controlPlaneNamespace}/${ControlPlane.trustRootsConfigMap}`)
}

async function issuer(ctx: CheckContext) {
  const what = `issuer certificate in Secret ${ctx.options.controlPlaneNamespace}/${ControlPlane.issuerSecret}`
  const pem = await readIssuerKey(ctx, 'cert')
  return {chain: parseBundle(pem, what), what}
}

export function identity(): Category {
  return {
    name: 'mesh-identity',
    checks: [
      {
        id: 'MESH2101',
        description: 'trust anchors are valid',
        hint: 'An expired anchor fails every certificate that chains to it. Install a new anchor and issuer: `mesh upgrade --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key --apply`, then restart every meshed workload (`kubectl rollout restart deploy -n <ns>`).',
        async run(ctx) {
          for (const a of await anchors(ctx)) assertCurrentCa(a, 'trust anchor', ctx.now())
        },
      },
      {
        id: 'MESH2102',
        description: 'trust anchors are not expiring soon',
        hint: 'Rotate the anchor while it still works, without an outage: `mesh identity rotate-anchor --new ca2.crt` shows the staged plan; add --apply to run it.',
        warning: true,
        async run(ctx) {
          for (const a of await anchors(ctx)) assertNotExpiringSoon(a, 'trust anchor', ctx.now(), ctx.options.expiryWarningMs)
        },
      },
      {
        id: 'MESH2103',
        description: 'issuer certificate is valid',
        hint: 'Replace the issuer (this works after it has expired too): `mesh upgrade --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key --apply`; proxies pick it up on their next renewal. With cert-manager (kubernetes.io/tls), renew its Certificate: `cmctl renew mesh-identity-issuer -n mesh-system`.',
        async run(ctx) {
          const {chain, what} = await issuer(ctx)
          assertCurrentCa(chain[0]!, what, ctx.now())
          const key = await readIssuerKey(ctx, 'key')
          assertKeyMatches(chain[0]!, key, what)
        },
      },
      {
        id: 'MESH2104',
        description: 'issuer certificate is not expiring soon',
        hint: 'Renew the issuer before it expires (after that, no proxy gets a certificate): `mesh upgrade --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key --apply` with an issuer signed by the same anchor. cert-manager renews its own: check the Certificate\'s renewBefore.',
        warning: true,
        async run(ctx) {
          const {chain, what} = await issuer(ctx)
          // The issuer and any intermediate above it: the first of them to expire ends issuance.
          for (const [i, cert] of chain.entries()) assertNotExpiringSoon(cert, i === 0 ? what : `intermediate #${i} above the ${what}`, ctx.now(), ctx.options.expiryWarningMs)
        },
      },
      {
        id: 'MESH2105',
        description: 'issuer certificate is issued by the trust anchors',
        hint: 'The issuer must be signed by one of the trust anchors: re-issue it from the anchor, or install the anchor that signed it.',
        async run(ctx) {
          const {chain, what} = await issuer(ctx)
          assertChainsTo(chain, await anchors(ctx), what, ctx.now())
        },
      },
      {
        id: 'MESH2106',
        description: 'proxies are injected with anchors that validate the issuer',
        hint: "The trust anchors in mesh-config are what new proxies trust: re-run `mesh upgrade` so they include the issuer's anchor.",
        async run(ctx) {
          const raw = await readConfigMapKey(ctx, ControlPlane.configMap, MESH_CONFIG_KEY)
          const config = configFromConfigMapData({[MESH_CONFIG_KEY]: raw}, `ConfigMap ${ctx.options.controlPlaneNamespace}/${ControlPlane.configMap}`)
          if (!config.trustAnchorsPEM.trim()) throw new Error(`ConfigMap ${ctx.options.controlPlaneNamespace}/${ControlPlane.configMap} holds no trustAnchorsPEM`)
          const injected = parseBundle(config.trustAnchorsPEM, 'trustAnchorsPEM in mesh-config')
          const {chain, what} = await issuer(ctx)
          assertChainsTo(chain, injected, what, ctx.now())
        },
      },
    ],
  }
}
