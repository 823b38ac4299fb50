// Header handling for HTTP/1 forwarding on raw header lists (name, value, name, value): drop
// hop-by-hop headers (RFC 9110 7.6.1) and those the Connection header names, keep case and order.

/** Headers that belong to one connection, never forwarded. */
function isHopByHop(lower: string): boolean {
  switch (lower.length) {
    case 2: return lower === 'te'
    case 7: return lower === 'upgrade' || lower === 'trailer'
    case 10: return lower === 'connection' || lower === 'keep-alive'
    case 16: return lower === 'proxy-connection'
    case 17: return lower === 'transfer-encoding'
    case 19: return lower === 'proxy-authorization'
    case 14: return lower === 'mesh-retryable'
    default: return false
  }
}

/**
 * Copies `raw` without hop-by-hop headers. `keepUpgrade` keeps Connection/Upgrade (for
 * Upgrade requests). `host`, when given, replaces (or adds) the Host header.
 */
export function forwardHeaders(raw: string[], connectionHeader: string | undefined, keepUpgrade = false, host?: string): string[] {
  const named = connectionHeader ? connectionHeader.toLowerCase().split(',').map((s) => s.trim()) : undefined
  const out: string[] = []
  let sawHost = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const lower = name.toLowerCase()
    if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) {
      out.push(name, raw[i + 1])
      continue
    }
    if (isHopByHop(lower)) continue
    if (named && named.includes(lower)) continue
    if (lower === 'host') {
      if (sawHost) continue
      sawHost = true
      if (host !== undefined) {
        out.push(name, host)
        continue
      }
    }
    out.push(name, raw[i + 1])
  }
  if (!sawHost && host !== undefined) out.push('Host', host)
  return out
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/** Idempotent methods, or a request the application marked `mesh-retryable: true`. */
export function isRetryableRequest(method: string, headers: Record<string, string | string[] | undefined>): boolean {
  return IDEMPOTENT.has(method) || headers['mesh-retryable'] === 'true'
}
