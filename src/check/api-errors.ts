// Short, human messages for failed API calls inside checks (the check's error line).
import {apiStatus} from '../k8s/client.js'

export function describeApiError(action: string, error: unknown): string {
  const status = apiStatus(error)
  const e = error as {body?: unknown; message?: string}
  let detail = ''
  if (typeof e?.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as {message?: string}).message ?? ''
    } catch {
      detail = ''
    }
  } else if (e?.body && typeof e.body === 'object') {
    detail = String((e.body as {message?: unknown}).message ?? '')
  }
  if (!detail) detail = (e?.message ?? String(error)).split('\n')[0]!
  if (status === 403) return `${action}: forbidden (${detail})`
  if (status === 401) return `${action}: the API server refused the credentials`
  return `${action}: ${detail}`
}

export function isNotFound(error: unknown): boolean {
  return apiStatus(error) === 404
}

/** Runs an API read; undefined when the object does not exist, other failures rethrown as messages. */
export async function readOptional<T>(action: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read()
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw new Error(describeApiError(action, error), {cause: error})
  }
}

/** Runs an API call; failures become an Error with a short message naming the action. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw new Error(describeApiError(action, error), {cause: error})
  }
}
