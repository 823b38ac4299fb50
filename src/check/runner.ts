// Runs categories of checks in order. A failing check is retried while it is retryable and
// the --wait deadline allows; a failing fatal check ends the run; a failing warning check
// counts as a warning. Progress goes to an observer (the command's spinner), never to stdout.
import {reportSuccess, type CategoryOutcome, type CheckOutcome, type CheckReport} from './report.js'
import {CheckWarning, type Category, type Check} from './types.js'

export interface RunObserver<C> {
  /** A check starts (attempt 1) or is retried (attempt > 1, with the last error). */
  onAttempt?(check: Check<C>, attempt: number, lastError?: string): void
  onResult?(category: string, outcome: CheckOutcome): void
}

export interface RunOptions<C> {
  /** --wait in ms: how long retryable checks may keep failing before they count. 0: no retries. */
  waitMs?: number
  /** Pause between attempts (default 1 s). */
  retryIntervalMs?: number
  observer?: RunObserver<C>
  /** Clock for the deadlines (tests). */
  clock?: () => number
  sleep?: (ms: number) => Promise<void>
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function runChecks<C>(categories: Category<C>[], ctx: C, options: RunOptions<C> = {}): Promise<CheckReport> {
  const clock = options.clock ?? Date.now
  const sleep = options.sleep ?? defaultSleep
  const waitMs = options.waitMs ?? 0
  const interval = options.retryIntervalMs ?? 1000
  const runDeadline = clock() + waitMs
  const out: CategoryOutcome[] = []
  let stopped = false
  for (const category of categories) {
    if (stopped) break
    const checks: CheckOutcome[] = []
    for (const check of category.checks) {
      const outcome = await runOne(check, ctx, {clock, sleep, interval, runDeadline, waitMs, observer: options.observer})
      checks.push(outcome)
      options.observer?.onResult?.(category.name, outcome)
      if (outcome.result === 'error' && check.fatal) {
        stopped = true
        break
      }
    }
    out.push({categoryName: category.name, checks})
  }
  return {success: reportSuccess(out), categories: out}
}

interface Loop<C> {
  clock: () => number
  sleep: (ms: number) => Promise<void>
  interval: number
  runDeadline: number
  waitMs: number
  observer?: RunObserver<C>
}

async function runOne<C>(check: Check<C>, ctx: C, loop: Loop<C>): Promise<CheckOutcome> {
  // Read after the run: a check may state what it found in its description (gateway-api.ts).
  const base = (): {id: string; description: string; hint: string} => ({id: check.id, description: check.description, hint: check.hint})
  const retryable = check.retryDeadline !== undefined && loop.waitMs > 0
  const deadline = retryable ? Math.min(loop.runDeadline, loop.clock() + check.retryDeadline!) : 0
  let lastError: string | undefined
  for (let attempt = 1; ; attempt++) {
    loop.observer?.onAttempt?.(check, attempt, lastError)
    try {
      await check.run(ctx)
      return {...base(), error: '', result: 'success'}
    } catch (error) {
      const message = errorMessage(error)
      if (error instanceof CheckWarning) return {...base(), error: message, result: 'warning'}
      lastError = message
      if (!retryable || loop.clock() + loop.interval > deadline) {
        return {...base(), error: message, result: check.warning ? 'warning' : 'error'}
      }
      await loop.sleep(loop.interval)
    }
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.trim() || error.name
  return String(error)
}
