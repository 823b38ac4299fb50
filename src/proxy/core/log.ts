// The proxy's log: one line per event on stderr, plain (`2024-... INFO msg k=v`) or JSON, with
// a level that the admin server can change at run time.
import {LOG_RANK as RANK, type LogFormat, type LogLevel} from '../config/log-level.js'

export type {LogFormat, LogLevel} from '../config/log-level.js'

export type Fields = Record<string, string | number | boolean | undefined>

export class Logger {
  private rank: number

  constructor(
    private level: LogLevel = 'info',
    private readonly format: LogFormat = 'plain',
    private readonly write: (line: string) => void = (l) => process.stderr.write(l),
  ) {
    this.rank = RANK[level]
  }

  get currentLevel(): LogLevel {
    return this.level
  }

  setLevel(level: LogLevel): void {
    this.level = level
    this.rank = RANK[level]
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.rank
  }

  error(msg: string, fields?: Fields): void { this.log('error', msg, fields) }
  warn(msg: string, fields?: Fields): void { this.log('warn', msg, fields) }
  info(msg: string, fields?: Fields): void { this.log('info', msg, fields) }
  debug(msg: string, fields?: Fields): void { if (this.rank >= 3) this.log('debug', msg, fields) }
  trace(msg: string, fields?: Fields): void { if (this.rank >= 4) this.log('trace', msg, fields) }

  log(level: LogLevel, msg: string, fields?: Fields): void {
    if (RANK[level] > this.rank) return
    const time = new Date().toISOString()
    if (this.format === 'json') {
      this.write(JSON.stringify({time, level, msg, ...fields}) + '\n')
      return
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`
    if (fields) {
      for (const k in fields) {
        const v = fields[k]
        if (v === undefined) continue
        const s = String(v)
        line += ` ${k}=${/[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s}`
      }
    }
    this.write(line + '\n')
  }
}
