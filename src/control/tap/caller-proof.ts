// Proof that the caller holds a client certificate's private key, for kubeconfig users that
// authenticate with a certificate rather than a token. The API server's service proxy
// authenticates the caller, then forwards nothing about who it was; a certificate cannot be
// forwarded as a bearer token can. So the CLI sends its certificate chain and a signature, made
// with the certificate's key, over a fresh statement of exactly this request:
//
//   mesh-tap-caller-proof-v1 \n <time ms> \n <nonce> \n <method> \n <path> \n <query>
//
// The tap server accepts it only if the certificate chains to the API server's own client CA
// (kube-system/extension-apiserver-authentication, key client-ca-file), is valid now and for
// client auth, the signature verifies with the certificate's public key, the time is within
// ±5 minutes and the (time, nonce) pair was not seen before. Then the user is the certificate's
// CN and its groups the O entries, as the API server's own x509 authenticator reads them.
// The context string keeps these signatures from being reusable as anything else (a TLS
// handshake signs a different, prefixed transcript).
import {createPrivateKey, randomBytes, sign, verify, X509Certificate, type KeyObject} from 'node:crypto'

export const PROOF_HEADERS = {
  cert: 'x-mesh-caller-cert',
  signature: 'x-mesh-caller-signature',
  time: 'x-mesh-caller-time',
  nonce: 'x-mesh-caller-nonce',
} as const

const CONTEXT = 'mesh-tap-caller-proof-v1'
export const MAX_SKEW_MS = 5 * 60_000
/** At most this many certificates in a chain a caller sends. */
export const MAX_CHAIN = 4

export interface ProofRequest {
  method: string
  /** The tap API path, e.g. /v1/tap (without the service proxy prefix). */
  path: string
  /** The query string exactly as sent in the x-mesh-query header, without '?'. */
  query: string
}

export function proofPayload(r: ProofRequest, time: string, nonce: string): Buffer {
  return Buffer.from([CONTEXT, time, nonce, r.method.toUpperCase(), r.path, r.query].join('\n'), 'utf8')
}

function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256'
}

/** PEM blocks of a bundle, in order. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

/** The CLI's side: headers proving the caller holds `keyPem`, the key of `certPem` (a chain). */
export function signProof(certPem: string, keyPem: string, r: ProofRequest, now = Date.now()): Record<string, string> {
  const key = createPrivateKey(keyPem)
  const time = String(now)
  const nonce = randomBytes(16).toString('base64url')
  const chain = pemBlocks(certPem).map((b) => new X509Certificate(b).raw.toString('base64'))
  const signature = sign(digestFor(key), proofPayload(r, time, nonce), key).toString('base64')
  return {[PROOF_HEADERS.cert]: chain.join(','), [PROOF_HEADERS.signature]: signature, [PROOF_HEADERS.time]: time, [PROOF_HEADERS.nonce]: nonce}
}

export class ProofError extends Error {}

export interface VerifiedCaller {
  user: string
  groups: string[]
}

/** The x509 authenticator's reading of a subject: user from CN, groups from O. */
function subjectOf(cert: X509Certificate): VerifiedCaller {
  const lines = cert.subject.split('\n')
  const values = (k: string): string[] => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1))
  const user = values('CN')[0]
  if (!user) throw new ProofError('the client certificate has no common name (CN), so it names no user')
  return {user, groups: values('O')}
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ANY_EKU = '2.5.29.37.0'

function validNow(c: X509Certificate, now: number): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo)
}

/** Walks leaf -> intermediates -> a CA of the bundle, checking signatures and validity. */
function chainsTo(leaf: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], now: number): boolean {
  let cur = leaf
  const pool = [...intermediates]
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    if (roots.some((r) => validNow(r, now) && cur.checkIssued(r) && cur.verify(r.publicKey))) return true
    const i = pool.findIndex((c) => c.ca && validNow(c, now) && cur.checkIssued(c) && cur.verify(c.publicKey))
    if (i < 0) return false
    cur = pool.splice(i, 1)[0]
  }
  return false
}

/** The last CA bundle parsed (it changes rarely: the API server's client CA). */
let rootsMemo: {pem: string; certs: X509Certificate[]} | undefined

function parsedRoots(pem: string): X509Certificate[] {
  if (rootsMemo?.pem !== pem) rootsMemo = {pem, certs: pemBlocks(pem).map((b) => new X509Certificate(b))}
  return rootsMemo.certs
}

export interface VerifyOptions {
  headers: Record<string, string | string[] | undefined>
  request: ProofRequest
  /** The API server's client CA bundle (PEM). */
  clientCaPem: string
  /** Returns false when this (time, nonce) was seen before. */
  remember: (key: string, expiresAt: number) => boolean
  now?: number
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)

export function hasProof(headers: Record<string, string | string[] | undefined>): boolean {
  return one(headers[PROOF_HEADERS.cert]) !== undefined
}

/** The tap server's side: the caller the proof names, or a ProofError saying what is wrong. */
export function verifyProof(o: VerifyOptions): VerifiedCaller {
  const now = o.now ?? Date.now()
  const certs = one(o.headers[PROOF_HEADERS.cert]) ?? ''
  const signature = one(o.headers[PROOF_HEADERS.signature]) ?? ''
  const time = one(o.headers[PROOF_HEADERS.time]) ?? ''
  const nonce = one(o.headers[PROOF_HEADERS.nonce]) ?? ''
  if (!/^\d{1,16}$/.test(time) || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce) || signature.length === 0 || signature.length > 2048) {
    throw new ProofError(`incomplete client certificate proof: ${PROOF_HEADERS.signature}, ${PROOF_HEADERS.time} and ${PROOF_HEADERS.nonce} are required`)
  }
  if (Math.abs(now - Number(time)) > MAX_SKEW_MS) {
    throw new ProofError('the client certificate proof is older than 5 minutes (or your clock is off by more than that)')
  }
  let chain: X509Certificate[]
  try {
    const parts = certs.split(',')
    if (parts.length === 0 || parts.length > MAX_CHAIN) throw new Error('chain length')
    chain = parts.map((p) => new X509Certificate(Buffer.from(p, 'base64')))
  } catch {
    throw new ProofError(`${PROOF_HEADERS.cert} is not a chain of at most ${MAX_CHAIN} base64 DER certificates`)
  }
  const [leaf, ...intermediates] = chain
  const roots = parsedRoots(o.clientCaPem)
  if (!validNow(leaf, now)) throw new ProofError(`your client certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo})`)
  if (leaf.ca) throw new ProofError('a CA certificate cannot be a client certificate')
  const eku = leaf.keyUsage
  if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH) && !eku.includes(ANY_EKU)) throw new ProofError('your certificate is not for client authentication (extended key usage)')
  if (!chainsTo(leaf, intermediates, roots, now)) throw new ProofError('your client certificate is not issued by the API server\'s client CA')
  const ok = verify(digestFor(leaf.publicKey), proofPayload(o.request, time, nonce), leaf.publicKey, Buffer.from(signature, 'base64'))
  if (!ok) throw new ProofError('the signature does not match your client certificate and this request')
  if (!o.remember(`${time}/${nonce}`, Number(time) + MAX_SKEW_MS)) throw new ProofError('this client certificate proof was already used (a replay)')
  return subjectOf(leaf)
}
