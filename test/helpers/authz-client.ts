// A raw destination client speaking watchAuthz as a proxy will (src/protocol/authz.ts), with a
// real mesh certificate: certified by the identity service under test (local tokens, or a
// Kubernetes TokenRequest token), then presented on the destination service's WebSocket.
import WebSocket from 'ws'
import {identityName} from '../../src/protocol/proxy-env.js'
import type {AuthzMessage} from '../../src/protocol/authz.js'
import {callCertify} from '../../src/proxy/identity/index.js'
import {createCsr, generateRsaKey} from '../../src/tls/index.js'
import {eventually} from './eventually.js'

export interface ClientCert {
  identity: string
  keyPem: string
  /** Leaf and chain, PEM. */
  certPem: string
}

/** A key, a CSR and a certify call: the certificate a proxy of ServiceAccount ns/sa holds. */
export async function certifyClient(o: {identityUrl: string; anchorsPem: string; serviceName: string; serviceAccount: string; namespace: string; token: string; controlPlaneNamespace?: string; trustDomain?: string}): Promise<ClientCert> {
  const identity = identityName(o.serviceAccount, o.namespace, o.controlPlaneNamespace, o.trustDomain)
  const {keyPem} = await generateRsaKey()
  const res = await callCertify({url: o.identityUrl, anchorsPem: o.anchorsPem, serviceName: o.serviceName}, {identity, csr: createCsr(keyPem, identity), token: o.token})
  return {identity, keyPem, certPem: [res.certificate, ...res.chain].join('\n')}
}

export interface AuthzSocket {
  ws: WebSocket
  messages: Array<Record<string, unknown>>
  watch(id: number, namespace: string, pod: string, version?: number): void
  /** The latest `authz` message of stream `id` once `pred` holds for it. */
  policy(id: number, pred?: (m: AuthzMessage) => boolean, what?: string): Promise<AuthzMessage>
  /** The `error` message of stream `id`. */
  error(id: number): Promise<{code: string; message: string}>
  close(): void
}

/** A WebSocket on /v1/destinations, with `cert` as the client certificate when given. */
export async function authzSocket(o: {port: number; anchorsPem: string; serverName: string; cert?: ClientCert; ns?: string}): Promise<AuthzSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${o.port}/v1/destinations?ns=${o.ns ?? 'default'}`, {ca: o.anchorsPem, servername: o.serverName, ...(o.cert ? {key: o.cert.keyPem, cert: o.cert.certPem} : {})} as unknown as WebSocket.ClientOptions)
  const messages: Array<Record<string, unknown>> = []
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return {
    ws,
    messages,
    watch: (id, namespace, pod, version = 1) => ws.send(JSON.stringify({type: 'watchAuthz', id, namespace, pod, version})),
    policy: (id, pred = () => true, what = `an authz message on stream ${id}`) =>
      eventually(what, () => {
        const mine = messages.filter((m) => m.id === id && m.type === 'authz') as unknown as AuthzMessage[]
        const last = mine[mine.length - 1]
        return last && pred(last) ? last : undefined
      }, {timeoutMs: 60_000, intervalMs: 20, context: () => `messages: ${JSON.stringify(messages.slice(-3)).slice(0, 2000)}`}),
    error: (id) =>
      eventually(`an error on stream ${id}`, () => messages.find((m) => m.id === id && m.type === 'error') as {code: string; message: string} | undefined, {timeoutMs: 30_000, intervalMs: 20}),
    close: () => ws.close(),
  }
}
