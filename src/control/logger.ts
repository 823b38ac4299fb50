// The control plane's log: one line per event on stderr, `plain` (time level component msg
// key=value...) or `json`. Secrets (tokens, keys) are never passed here.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(component: string): Logger
}

export interface LoggerOptions {
  level?: LogLevel
  format?: 'plain' | 'json'
  write?: (line: string) => void
  component?: string
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? 'info']
  const write = opts.write ?? ((line: string) => process.stderr.write(line))
  const format = opts.format ?? 'plain'
  const emit = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
    if (ORDER[level] < min) return
    const time = new Date().toISOString()
    if (format === 'json') {
      write(JSON.stringify({time, level, component: opts.component, msg, ...fields}) + '\n')
      return
    }
    const kv = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    write(`${time} ${level.toUpperCase().padEnd(5)} ${opts.component ?? 'controller'}: ${msg}${kv.length ? ' ' + kv.join(' ') : ''}\n`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (component) => createLogger({...opts, component: opts.component ? `${opts.component}/${component}` : component}),
  }
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = createLogger({level: 'error', write: () => {}})
