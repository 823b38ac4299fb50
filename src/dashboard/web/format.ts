// Numbers as `mesh stat` prints them.
export const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(2)}%`)
export const rps = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v.toFixed(1)}rps`)
export const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${Math.round(v)}ms`)
export const ago = (t: number, now = Date.now()): string => {
  const s = Math.max(0, Math.round((now - t) / 1000))
  return s < 60 ? `${s}s ago` : `${Math.floor(s / 60)}m ago`
}
/** `web.demo` for `web.demo.serviceaccount.identity.mesh-system.cluster.local`. */
export const shortId = (id: string): string => {
  const m = /^([^.]+)\.([^.]+)\.serviceaccount\./.exec(id)
  return m ? `${m[1]}.${m[2]}` : id
}
