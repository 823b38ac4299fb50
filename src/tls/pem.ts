// PEM helpers: split bundles, parse certificates with Node's X509Certificate.
import {X509Certificate} from 'node:crypto'

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g

/** Every PEM block of the given type (default CERTIFICATE) in a bundle, normalised with a final newline. */
export function splitPem(bundle: string, type = 'CERTIFICATE'): string[] {
  const out: string[] = []
  for (const m of bundle.matchAll(BLOCK)) {
    if (m[1] === type) out.push(m[0].replace(/\r\n/g, '\n') + '\n')
  }
  return out
}

/** Joins PEM blocks into one bundle. */
export function joinPem(blocks: string[]): string {
  return blocks.map((b) => (b.endsWith('\n') ? b : b + '\n')).join('')
}

/** Parses every certificate in a bundle; throws naming `what` when there is none or one is broken. */
export function parseCertificates(bundle: string, what = 'certificate bundle'): X509Certificate[] {
  const blocks = splitPem(bundle)
  if (blocks.length === 0) throw new Error(`${what}: no PEM CERTIFICATE block found`)
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b)
    } catch (err) {
      throw new Error(`${what}: certificate #${i + 1} cannot be parsed: ${(err as Error).message}`, {cause: err})
    }
  })
}

/** The first certificate of a bundle. */
export function parseCertificate(pem: string, what = 'certificate'): X509Certificate {
  return parseCertificates(pem, what)[0]!
}

export function notBefore(cert: X509Certificate): Date {
  return new Date(cert.validFrom)
}

export function notAfter(cert: X509Certificate): Date {
  return new Date(cert.validTo)
}
