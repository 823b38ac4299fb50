// mesh-data-plane (--proxy): every meshed proxy is ready, runs the control plane's version,
// and holds (or would be given) a certificate the current trust anchors validate; and, as
// warnings, what its metrics counted: detect timeouts, inbound mTLS handshakes left unfinished.
import type {X509Certificate} from 'node:crypto'
import {clusterSource} from '../data-plane/cluster-source.js'
import type {DataPlaneSource, Expected, ProxyInfo} from '../data-plane/source.js'
import {assertChainsTo, parseBundle} from '../certs.js'
import {sameVersion} from '../control-plane-objects.js'
import type {Category, CheckContext} from '../types.js'

function source(ctx: CheckContext): DataPlaneSource {
  ctx.dataPlane ??= clusterSource(ctx)
  return ctx.dataPlane
}

/**
 * The proxies as probed for the checks of one pass (each probe reads every proxy's /ready,
 * /metrics and certificate): the checks that pass share one probe; a check that fails drops it
 * (`probing`), so its retry under --wait, and the checks after it, probe again.
 */
const probes = new WeakMap<CheckContext, Promise<ProxyInfo[]>>()

async function proxies(ctx: CheckContext): Promise<ProxyInfo[]> {
  let probe = probes.get(ctx)
  if (probe === undefined) {
    probe = source(ctx).proxies(ctx.options.namespace)
    probes.set(ctx, probe)
  }
  const list = await probe
  if (list.length === 0) {
    throw new Error(`no meshed proxies found${ctx.options.namespace ? ` in namespace ${ctx.options.namespace}` : ''} (${source(ctx).description})`)
  }
  return list
}

/** `run`, dropping the shared probe when it fails (see `proxies`). */
function probing(run: (ctx: CheckContext) => Promise<void>): (ctx: CheckContext) => Promise<void> {
  return async (ctx) => {
    try {
      await run(ctx)
    } catch (error) {
      probes.delete(ctx)
      throw error
    }
  }
}

function summarize(problems: string[], total: number, what: string): void {
  if (problems.length === 0) return
  const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '')
  throw new Error(`${problems.length} of ${total} proxies ${what}: ${shown}`)
}

const key = (p: ProxyInfo): string => `${p.namespace}/${p.name}`

/** Why a proxy's certificate or anchors disagree with the current ones, or undefined. */
export function certificateProblem(p: ProxyInfo, expected: Expected, anchors: X509Certificate[], now: Date): string | undefined {
  const issuer = expected.issuerPem ? parseBundle(expected.issuerPem, 'current issuer') : []
  if (p.certificatePem) {
    try {
      const chain = parseBundle(p.certificatePem, `certificate of ${key(p)}`)
      assertChainsTo([...chain, ...issuer], anchors, 'its certificate', now)
    } catch (error) {
      return (error as Error).message
    }
  }
  if (p.trustAnchorsPem) {
    try {
      const own = parseBundle(p.trustAnchorsPem, `trust anchors of ${key(p)}`)
      if (issuer.length > 0) assertChainsTo(issuer, own, 'the current issuer, checked against its trust anchors,', now)
      else if (!own.some((a) => anchors.some((b) => a.raw.equals(b.raw)))) return 'none of its trust anchors is a current trust anchor'
    } catch (error) {
      return (error as Error).message
    }
  }
  if (!p.certificatePem && !p.trustAnchorsPem) return 'neither its certificate nor its trust anchors could be read'
  return undefined
}

export function dataPlane(): Category {
  return {
    name: 'mesh-data-plane',
    checks: [
      {
        id: 'MESH3001',
        description: 'data plane proxies are ready',
        hint: 'Look at the proxy: `kubectl -n <ns> logs <pod> -c mesh-proxy`; pods must be injected (`mesh inject`) and running.',
        retryDeadline: 5 * 60_000,
        run: probing(async (ctx) => {
          const list = await proxies(ctx)
          summarize(list.filter((p) => !p.ready).map((p) => `${key(p)}: ${p.notReadyReason ?? 'not ready'}`), list.length, 'not ready')
        }),
      },
      {
        id: 'MESH3002',
        description: "data plane proxies run the control plane's version",
        hint: 'Restart the workloads so they get the current proxy: `kubectl rollout restart deploy -n <ns>`.',
        warning: true,
        run: probing(async (ctx) => {
          const [list, expected] = await Promise.all([proxies(ctx), source(ctx).expected()])
          const stale = list.filter((p) => !p.version || !sameVersion(p.version, expected.version))
          summarize(stale.map((p) => `${key(p)} runs ${p.version ?? 'an unknown version'}`), list.length, `do not run ${expected.version}`)
        }),
      },
      {
        id: 'MESH3003',
        description: 'data plane proxies hold certificates issued by the current trust anchors',
        hint: 'Restart the workloads after rotating the anchors or the issuer, so their proxies get certificates from the current issuer.',
        run: probing(async (ctx) => {
          const [list, expected] = await Promise.all([proxies(ctx), source(ctx).expected()])
          const anchors = parseBundle(expected.trustAnchorsPem, 'current trust anchors')
          const now = ctx.now()
          summarize(
            list.flatMap((p) => {
              const why = certificateProblem(p, expected, anchors, now)
              return why ? [`${key(p)}: ${why}`] : []
            }),
            list.length,
            'do not match the current trust anchors',
          )
        }),
      },
      {
        id: 'MESH3004',
        description: 'no proxy closed connections for a protocol detection timeout',
        hint: 'A client that waits for the server to speak first (MySQL, SMTP, Redis...) on a port not marked opaque waits the detect timeout on every connection, which is then closed. Mark the ports each proxy names opaque: `kubectl annotate svc/<server> -n <ns> config.mesh.dev/opaque-ports=<port>` and the same annotation on the server\'s pod template (or add the port to the install\'s proxy.opaquePorts: `mesh upgrade --set proxy.opaquePorts=...`); for a proxy that does not name ports, find them with `mesh explain <client> svc/<server>`. The counts are totals since each proxy started.',
        warning: true,
        run: probing(async (ctx) => {
          const list = await proxies(ctx)
          summarize(
            list.flatMap((p) => {
              const t = p.detectTimeouts
              if (!t || t.inbound + t.outbound === 0) return []
              const ports = t.ports ? [...new Set([...t.ports.inbound, ...t.ports.outbound])].sort((a, b) => a - b) : []
              const where = ports.length > 0 ? ` on port${ports.length === 1 ? '' : 's'} ${ports.join(', ')} (mark ${ports.length === 1 ? 'it' : 'them'} opaque: config.mesh.dev/opaque-ports=${ports.join(',')})` : ''
              return [`${key(p)}: ${[t.inbound ? `${t.inbound} inbound` : '', t.outbound ? `${t.outbound} outbound` : ''].filter(Boolean).join(' and ')} connection${t.inbound + t.outbound === 1 ? '' : 's'} sent nothing within the detect timeout${where}`]
            }),
            list.length,
            'hit the detect timeout',
          )
        }),
      },
      {
        id: 'MESH3005',
        description: 'no proxy closed inbound mTLS handshakes that did not finish',
        hint: 'A client began an mTLS handshake with the proxy (its ClientHello named the proxy\'s identity) and did not finish it: it stalled past the handshake timeout (the detect timeout), half-closed, or sent bytes that are not TLS; the proxy closed the connection. Its GET /errors keeps the last ones (kind tls_handshake) with the client\'s address: `mesh explain <client> svc/<server>` shows those from a client, and the count per pod. Then read that client\'s proxy log (`kubectl -n <ns> logs <client-pod> -c mesh-proxy`) and look at the path between them (one that drops large packets stalls a handshake at the certificates). The counts are totals since each proxy started.',
        warning: true,
        run: probing(async (ctx) => {
          const list = await proxies(ctx)
          summarize(
            list.flatMap((p) => {
              const n = p.tlsHandshakes ?? 0
              return n > 0 ? [`${key(p)}: ${n} inbound mTLS handshake${n === 1 ? '' : 's'} did not finish (tls_handshake)`] : []
            }),
            list.length,
            'closed unfinished mTLS handshakes',
          )
        }),
      },
    ],
  }
}
