// The issuer's certificate chain from its Secret (either scheme), when the user may read it.
import type {X509Certificate} from 'node:crypto'
import type {Kube} from '../k8s/client.js'
import {ControlPlane} from '../protocol/control-plane.js'
import {ISSUER_SECRET_KEYS, TLS_SECRET_KEYS} from '../protocol/identity.js'
import {parseCertificates} from '../tls/pem.js'

export async function readIssuerChain(kube: Kube, cpNs: string): Promise<X509Certificate[] | undefined> {
  try {
    const secret = await kube.core().readNamespacedSecret({name: ControlPlane.issuerSecret, namespace: cpNs})
    const data = secret.data ?? {}
    const b64 = data[ISSUER_SECRET_KEYS.cert] ?? data[TLS_SECRET_KEYS.cert]
    return b64 ? parseCertificates(Buffer.from(b64, 'base64').toString('utf8')) : undefined
  } catch {
    return undefined
  }
}
