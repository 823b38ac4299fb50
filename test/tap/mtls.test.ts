// The tap server reaches a proxy's tap port over mTLS with the controller's identity: the
// proxy accepts only the tap service identity, and the tap server accepts only the pod's own
// identity. Real TLS on 127.0.0.1 with certificates from the mesh's own CA code.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {generateIssuer, generateTrustAnchor, type CaMaterial} from '../../src/tls/ca.js'
import {signLeaf} from '../../src/tls/leaf.js'
import {generateRsaKey, publicKeyOf} from '../../src/tls/keys.js'
import {servingIdentity} from '../../src/control/tap/controller-identity.js'
import {openProxyTap} from '../../src/control/tap/proxy-tap.js'
import type {PodInfo} from '../../src/control/tap/types.js'
import {TapHub} from '../../src/proxy/tap/hub.js'
import {startTapServer as startProxyTap, type TapServer} from '../../src/proxy/tap/server.js'
import type {Identity} from '../../src/proxy/core/contracts.js'
import type {TapEvent} from '../../src/protocol/tap.js'
import type {RequestMeta} from '../../src/proxy/core/observe.js'

const CONTROLLER = 'mesh-controller.mesh-system.serviceaccount.identity.mesh-system.cluster.local'
const BOOKS = 'books.default.serviceaccount.identity.mesh-system.cluster.local'

async function identity(issuer: CaMaterial, anchorPem: string, name: string): Promise<Identity> {
  const {keyPem} = await generateRsaKey()
  const leaf = signLeaf(issuer, {publicKeyPem: publicKeyOf(keyPem), dnsName: name})
  const opts = {key: keyPem, cert: leaf.certPem + issuer.certPem, ca: anchorPem}
  return servingIdentity({tlsOptions: () => opts, onRenew: () => () => {}}, name)
}

let hub: TapHub
let proxyTap: TapServer
let controller: Identity
let stranger: Identity
let pod: PodInfo

beforeAll(async () => {
  const anchor = await generateTrustAnchor({commonName: 'root.test'})
  const issuer = await generateIssuer(anchor)
  const books = await identity(issuer, anchor.certPem, BOOKS)
  controller = await identity(issuer, anchor.certPem, CONTROLLER)
  stranger = await identity(issuer, anchor.certPem, 'web.default.serviceaccount.identity.mesh-system.cluster.local')
  hub = new TapHub({localLabels: {namespace: 'default', pod: 'books-0', deployment: 'books'}})
  proxyTap = await startProxyTap({listen: '127.0.0.1:0', hub, identity: books, tapServiceName: CONTROLLER})
  pod = {
    namespace: 'default', name: 'books-0', ip: '127.0.0.1', owner: {kind: 'deployment', name: 'books', namespace: 'default'},
    meshed: true, running: true, labels: {}, identity: BOOKS, tapAddress: `127.0.0.1:${proxyTap.address.port}`,
  }
}, 60_000)

afterAll(async () => {
  await proxyTap?.close()
})

function tap(as: Identity, target: PodInfo): Promise<{opened: boolean; events: TapEvent[]; end: string}> {
  return new Promise((resolve) => {
    const events: TapEvent[] = []
    let opened = false
    const conn = openProxyTap(target, {}, {
      onOpen: () => {
        opened = true
        // One request through the hub, as the data path would report it.
        const req: RequestMeta = {
          id: '1', direction: 'inbound', method: 'GET', scheme: 'http', authority: 'books:80', path: '/x', route: '', headers: {},
          source: {ip: '127.0.0.1', port: 5000}, destination: {ip: '127.0.0.1', port: 4143}, tls: {tls: true, clientId: 'web', serverId: BOOKS}, dstLabels: {}, startMs: performance.now(), requestSeries: undefined, statusSeries: undefined,
        }
        setTimeout(() => {
          hub.requestInit(req)
          hub.responseInit(req, 200)
          hub.responseEnd(req, {responseBytes: 2})
          setTimeout(() => conn.close(), 200)
          setTimeout(() => resolve({opened, events, end: 'closed by test'}), 250)
        }, 100)
      },
      onEvent: (e) => events.push(e),
      onEnd: (reason) => resolve({opened, events, end: reason}),
    }, {identity: as})
  })
}

describe('tap server -> proxy tap port over mTLS', () => {
  it('connects as the controller and receives the events', async () => {
    const r = await tap(controller, pod)
    expect(r.opened).toBe(true)
    expect(r.events.map((e) => e.type)).toEqual(['requestInit', 'responseInit', 'responseEnd'])
  })

  it('the proxy refuses any other identity (403)', async () => {
    const r = await tap(stranger, pod)
    expect(r.opened).toBe(false)
    expect(r.end).toContain('HTTP 403')
  })

  it('the tap server refuses a proxy that does not present the pod identity', async () => {
    const r = await tap(controller, {...pod, identity: 'other.default.serviceaccount.identity.mesh-system.cluster.local'})
    expect(r.opened).toBe(false)
    expect(r.end).toMatch(/not the expected other\.default/)
  })
})
