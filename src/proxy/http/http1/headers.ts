// Header handling for HTTP/1 forwarding on raw header lists (name, value, name, value): drop
// hop-by-hop headers (RFC 9110 7.6.1) and those the Connection header names, keep case and order.
// The common case (nothing to drop, no Host to rewrite) returns the list itself: no copy.
// Framing is sacred: a Connection header naming a field that frames or routes the message
// (Content-Length, Host; Transfer-Encoding is re-added by the codecs when the body stays
// chunked) never removes it. Dropping `Content-Length` while forwarding the body let one client
// request become two upstream (issue 19); nginx does not act on such names either.

/** Headers that belong to one connection, never forwarded. */
export function isHopByHop(lower: string): boolean {
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
 * Fields that frame or route a message: a Connection header naming them is not obeyed (the
 * message is forwarded with the framing it was parsed with).
 */
export function definesFraming(lower: string): boolean {
  return lower === 'content-length' || lower === 'host'
}

/** Lengths of the names isHopByHop knows, plus `host` (4): other names need no lowercasing. */
function mayMatter(len: number): boolean {
  return len === 2 || len === 4 || len === 7 || len === 10 || len === 14 || len === 16 || len === 17 || len === 19
}

export interface ForwardOptions {
  /** Keep Connection/Upgrade (for Upgrade requests). */
  keepUpgrade?: boolean
  /** Replaces (or adds) the Host header. */
  host?: string
  /** Keep `Trailer` (the message goes on chunked, so its trailers can follow). */
  keepTrailer?: boolean
}

/**
 * Copies `raw` without hop-by-hop headers. `connectionHeader` is the message's Connection
 * header (the names it lists are dropped too). Returns `raw` itself when nothing changes.
 */
export function forwardHeaders(raw: string[], connectionHeader: string | undefined, keepUpgradeOrOptions: boolean | ForwardOptions = false, hostArg?: string): string[] {
  const o: ForwardOptions = typeof keepUpgradeOrOptions === 'boolean' ? {keepUpgrade: keepUpgradeOrOptions, host: hostArg} : keepUpgradeOrOptions
  const host = o.host
  const named = connectionHeader ? connectionHeader.toLowerCase().split(',').map((s) => s.trim()) : undefined
  if (host === undefined && !named && !needsCopy(raw, o)) return raw
  const out: string[] = []
  let sawHost = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const lower = name.toLowerCase()
    if (o.keepUpgrade && (lower === 'upgrade' || lower === 'connection')) {
      out.push(name, raw[i + 1])
      continue
    }
    if (o.keepTrailer && lower === 'trailer') {
      out.push(name, raw[i + 1])
      continue
    }
    if (isHopByHop(lower)) continue
    if (named && named.includes(lower) && !definesFraming(lower)) continue
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

/** Whether `raw` holds a header forwardHeaders would drop (hop-by-hop, or a second Host). */
function needsCopy(raw: string[], o: ForwardOptions): boolean {
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (!mayMatter(name.length)) continue
    const lower = name.toLowerCase()
    if (lower === 'host') {
      if (++hosts > 1) return true
      continue
    }
    if (o.keepTrailer && lower === 'trailer') continue
    if (isHopByHop(lower)) return true
  }
  return false
}

/** Node's flat raw trailer list as the [name, value] pairs `addTrailers` takes. */
export function trailerPairs(raw: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]])
  return out
}
