// A real tap server where the test cluster's API server reaches it through its service proxy
// (service-proxy.ts's veth address, published as mesh-system/mesh-tap), as the controller's would
// be reached: the Kubernetes resolver, the TokenReview/SubjectAccessReview authorizer, and the
// controller's mesh identity, with which it dials proxies' tap ports over mTLS. For the suites
// that drive the CLI (or the dashboard) as a cluster user: test/integration/tap.test.ts,
// dashboard.test.ts.
import {issueCertificate, type CertificateAuthority} from '../cluster/cluster.js'
import type {ServiceProxyRoute} from './service-proxy.js'
import {KubeAuthorizer} from '../../src/control/tap/auth.js'
import {servingIdentity} from '../../src/control/tap/controller-identity.js'
import {KubeResolver} from '../../src/control/tap/kube-resolver.js'
import {startTapServer, type RunningTapServer} from '../../src/control/tap/server.js'
import type {Kube} from '../../src/k8s/client.js'
import type {Identity} from '../../src/proxy/core/contracts.js'
import {generateIssuer, generateTrustAnchor} from '../../src/tls/ca.js'
import {generateRsaKey, publicKeyOf} from '../../src/tls/keys.js'
import {signLeaf} from '../../src/tls/leaf.js'

export const CONTROLLER_IDENTITY = 'mesh-controller.mesh-system.serviceaccount.identity.mesh-system.cluster.local'

/** The mesh's own trust for a test: one anchor, one issuer, identities signed by it. */
export interface MeshTrust {
  anchorPem: string
  identity(name: string): Promise<Identity>
}

export async function meshTrust(): Promise<MeshTrust> {
  const anchor = await generateTrustAnchor({commonName: 'root.test'})
  const issuer = await generateIssuer(anchor)
  return {
    anchorPem: anchor.certPem,
    identity: async (name) => {
      const {keyPem} = await generateRsaKey()
      const leaf = signLeaf(issuer, {publicKeyPem: publicKeyOf(keyPem), dnsName: name})
      const o = {key: keyPem, cert: leaf.certPem + issuer.certPem, ca: anchor.certPem}
      return servingIdentity({tlsOptions: () => o, onRenew: () => () => {}}, name)
    },
  }
}

/**
 * Starts the tap server at the route's address with a serving certificate of the cluster's CA
 * (the API server's service proxy speaks https to the endpoint and does not verify it), acting
 * with `kube`'s credentials, and publishes it as mesh-system/mesh-tap.
 */
export async function startPublishedTapServer(o: {route: ServiceProxyRoute; kube: Kube; clusterCa: CertificateAuthority; controller: Identity}): Promise<RunningTapServer> {
  const serving = await issueCertificate(o.clusterCa, {commonName: 'mesh-tap', ips: [o.route.ip]})
  const server = await startTapServer({
    host: o.route.ip, tls: {cert: serving.certPem, key: serving.keyPem},
    resolver: new KubeResolver({lib: o.kube.k8s, kc: o.kube.kc}), authorizer: new KubeAuthorizer(o.kube), refreshMs: 200,
    identity: o.controller,
  })
  await o.route.publish(server.port)
  return server
}
