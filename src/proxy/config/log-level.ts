// The log's levels and formats as settings (MESH_PROXY_LOG_LEVEL, MESH_PROXY_LOG_FORMAT, the
// admin server's level endpoint); the log itself is core/log.ts.
import {InputError} from '../../lib/errors.js'

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace'
export type LogFormat = 'plain' | 'json'
export const LOG_RANK: Record<LogLevel, number> = {error: 0, warn: 1, info: 2, debug: 3, trace: 4}

export function parseLogLevel(value: string, name = 'log level'): LogLevel {
  const v = value.trim().toLowerCase()
  if (v in LOG_RANK) return v as LogLevel
  throw new InputError(`${name}="${value}" is not a log level`, {suggestions: ['Use one of error, warn, info, debug, trace.']})
}
