// Chain and name checks with Node's X509Certificate (verify, checkIssued, validity dates).
import type {X509Certificate} from 'node:crypto'
import {notAfter, notBefore} from './pem.js'

/** The DNS SANs of a certificate, in order. */
export function dnsSans(cert: X509Certificate): string[] {
  return sanEntries(cert).filter((e) => e.type === 'DNS').map((e) => e.value)
}

/** All SAN entries as {type, value} (DNS, IP Address, URI, email, ...). */
export function sanEntries(cert: X509Certificate): Array<{type: string; value: string}> {
  const raw = cert.subjectAltName
  if (!raw) return []
  return splitSan(raw).map((entry) => {
    const i = entry.indexOf(':')
    let value = entry.slice(i + 1)
    if (value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value) as string
    return {type: entry.slice(0, i), value}
  })
}

// Node quotes entries containing commas (JSON string syntax), so split outside quotes only.
function splitSan(raw: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (c === '"' && raw[i - 1] !== '\\') quoted = !quoted
    if (c === ',' && !quoted) {
      out.push(cur.trim())
      cur = ''
      continue
    }
    cur += c
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}

/** The identity a leaf names: its single DNS SAN, or undefined when it has none or several SANs. */
export function singleDnsSan(cert: X509Certificate): string | undefined {
  const entries = sanEntries(cert)
  if (entries.length !== 1 || entries[0]!.type !== 'DNS') return undefined
  return entries[0]!.value
}

function validAt(cert: X509Certificate, at: Date | undefined, what: string): string | undefined {
  if (!at) return undefined
  if (at < notBefore(cert)) return `${what} is not valid before ${cert.validFrom}`
  if (at > notAfter(cert)) return `${what} expired at ${cert.validTo}`
  return undefined
}

export interface ChainInput {
  leaf: X509Certificate
  /** Certificates between the leaf and an anchor (any order). */
  intermediates?: X509Certificate[]
  anchors: X509Certificate[]
  at?: Date
  /** Check signatures and issuers only, not validity windows (loading issuer material). */
  ignoreValidity?: boolean
}

/**
 * Verifies leaf -> intermediates* -> anchor: each link issued by (checkIssued) and signed by
 * (verify) the next, each intermediate a CA, every certificate valid at `at`. Returns a reason
 * or undefined when the chain holds.
 */
export function verifyChain(input: ChainInput): string | undefined {
  const at = input.ignoreValidity ? undefined : (input.at ?? new Date())
  const pool = input.intermediates ?? []
  let current = input.leaf
  const bad = validAt(current, at, `certificate ${current.subject.replace(/\n/g, ',')}`)
  if (bad) return bad
  for (let depth = 0; depth < 8; depth++) {
    const anchor = input.anchors.find((a) => current.checkIssued(a) && current.verify(a.publicKey))
    if (anchor) return validAt(anchor, at, 'trust anchor')
    const next = pool.find((c) => c !== current && c.ca && current.checkIssued(c) && current.verify(c.publicKey))
    if (!next) {
      return depth === 0 ? 'certificate is not signed by a trust anchor or a known issuer' : 'chain does not end at a trust anchor'
    }
    const expired = validAt(next, at, 'issuer certificate')
    if (expired) return expired
    current = next
  }
  return 'chain too long'
}
