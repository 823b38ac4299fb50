// RFC 6902 JSON patch from the difference of two JSON values: objects key by key, arrays
// replaced whole when they differ (the webhook's patch applies to the object it was given).
export type JsonPatchOp =
  | {op: 'add' | 'replace'; path: string; value: unknown}
  | {op: 'remove'; path: string}

/** RFC 6901: `~` -> `~0`, `/` -> `~1`. */
export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1')
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

export function diff(before: unknown, after: unknown, path = ''): JsonPatchOp[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return []
  if (!isObj(before) || !isObj(after)) return [{op: 'replace', path, value: after}]
  const ops: JsonPatchOp[] = []
  for (const key of Object.keys(before)) {
    if (!(key in after) || after[key] === undefined) ops.push({op: 'remove', path: `${path}/${escapePointer(key)}`})
  }
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined) continue
    const p = `${path}/${escapePointer(key)}`
    if (!(key in before) || before[key] === undefined) ops.push({op: 'add', path: p, value})
    else ops.push(...diff(before[key], value, p))
  }
  return ops
}
