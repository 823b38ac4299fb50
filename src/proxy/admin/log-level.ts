// Timed log levels for PUT /proxy-log-level?for=<seconds> (src/protocol/proxy-admin.ts): the
// level is set and one timer puts back the level that was in force before the first timed PUT of
// the chain. A later timed PUT replaces the timer (and keeps what to put back); a PUT without
// `for` cancels it. The proxy reverts by itself: nothing depends on the client staying.
import {LOG_LEVEL_MAX_SECONDS} from '../../protocol/proxy-admin.js'

export interface LevelAccess {
  get(): string
  /** Throws (an Error with a message for the caller) when the level is not valid. */
  set(level: string): void
  /** Called after the timer put `level` back. */
  reverted?(level: string, was: string): void
}

/** `for` as a PUT carries it: digits only, 1 .. LOG_LEVEL_MAX_SECONDS; otherwise the problem. */
export function parseForSeconds(values: string[]): number | {problem: string} {
  if (values.length !== 1) return {problem: 'the parameter "for" is given more than once'}
  const v = values[0]!
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) < 1 || Number(v) > LOG_LEVEL_MAX_SECONDS) {
    return {problem: `the parameter "for" must be a whole number of seconds from 1 to ${LOG_LEVEL_MAX_SECONDS}, got ${JSON.stringify(v.slice(0, 32))}`}
  }
  return Number(v)
}

export class TimedLevel {
  private timer: NodeJS.Timeout | undefined
  /** The level to put back when the timer fires (the one before the chain's first timed PUT). */
  private restore: string | undefined
  /** When the running timer puts the level back. */
  private endsAt: Date | undefined

  constructor(private readonly access: LevelAccess, private readonly now: () => number = Date.now) {}

  /** Sets `level`; with `forSeconds`, until then (returned), else for good (any timer cancelled). */
  put(level: string, forSeconds?: number): Date | undefined {
    const before = this.access.get()
    this.access.set(level)
    if (forSeconds === undefined) {
      this.cancel()
      return undefined
    }
    if (this.timer === undefined) this.restore = before
    else clearTimeout(this.timer)
    const until = new Date(this.now() + forSeconds * 1000)
    this.timer = setTimeout(() => this.fire(), forSeconds * 1000)
    this.timer.unref()
    this.endsAt = until
    return until
  }

  /** When the timed level in force ends; undefined when none is (GET /proxy-log-level says it). */
  get until(): Date | undefined {
    return this.timer === undefined ? undefined : this.endsAt
  }

  /** A timer is running (tests). */
  get pending(): boolean {
    return this.timer !== undefined
  }

  cancel(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.restore = undefined
  }

  private fire(): void {
    const back = this.restore
    const was = this.access.get()
    this.timer = undefined
    this.restore = undefined
    if (back === undefined) return
    try {
      this.access.set(back)
      this.access.reverted?.(back, was)
    } catch {
      // The level was valid when it was read; nothing else to put back.
    }
  }
}
