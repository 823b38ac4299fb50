// One certify call: HTTPS POST to the identity service, which must present a certificate that
// chains to our trust anchors and names the expected identity-service identity.
import https from 'node:https'
import type {PeerCertificate} from 'node:tls'
import {CERTIFY_PATH, type CertifyErrorBody, type CertifyRequest, type CertifyResponse} from '../../protocol/identity.js'

const MAX_RESPONSE = 256 * 1024

export class CertifyError extends Error {
  constructor(readonly code: string, readonly status: number | undefined, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'CertifyError'
  }
}

export interface CertifyCallOptions {
  /** https://host:port of the identity service. */
  url: string
  anchorsPem: string
  /** The DNS SAN the identity service's certificate must carry. */
  serviceName: string
  timeoutMs?: number
}

function sanNames(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4))
}

export function callCertify(opts: CertifyCallOptions, body: CertifyRequest): Promise<CertifyResponse> {
  const url = new URL(CERTIFY_PATH, opts.url)
  if (url.protocol !== 'https:') return Promise.reject(new CertifyError('BAD_CONFIG', undefined, `the identity address must be https://, got ${opts.url}`))
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        ca: opts.anchorsPem,
        agent: false,
        headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)},
        timeout: opts.timeoutMs ?? 10_000,
        checkServerIdentity: (_host, cert) => {
          const names = sanNames(cert)
          return names.includes(opts.serviceName) ? undefined : new Error(`the identity service presented ${names.join(', ') || 'no DNS name'}, not ${opts.serviceName}`)
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_RESPONSE) {
            req.destroy(new CertifyError('RESPONSE_TOO_LARGE', res.statusCode, `the identity service answer is larger than ${MAX_RESPONSE} bytes`))
            return
          }
          chunks.push(c)
        })
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            reject(new CertifyError('BAD_RESPONSE', res.statusCode, `the identity service answered HTTP ${res.statusCode} with a body that is not JSON`))
            return
          }
          if (res.statusCode === 200) {
            const ok = json as CertifyResponse
            if (typeof ok.certificate !== 'string' || !Array.isArray(ok.chain)) {
              reject(new CertifyError('BAD_RESPONSE', 200, 'the identity service answer lacks certificate/chain'))
              return
            }
            resolve(ok)
            return
          }
          const err = (json as CertifyErrorBody).error
          reject(new CertifyError(err?.code ?? 'HTTP_ERROR', res.statusCode, `identity service refused (HTTP ${res.statusCode} ${err?.code ?? ''}): ${err?.message ?? text.slice(0, 200)}`))
        })
      },
    )
    req.on('timeout', () => req.destroy(new CertifyError('TIMEOUT', undefined, `no answer from ${url.origin} within ${opts.timeoutMs ?? 10_000} ms`)))
    req.on('error', (err) => reject(err instanceof CertifyError ? err : new CertifyError('UNREACHABLE', undefined, `cannot reach the identity service at ${url.origin}: ${err.message}`, {cause: err})))
    req.end(payload)
  })
}
