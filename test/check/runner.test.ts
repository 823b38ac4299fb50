import {describe, expect, it} from 'vitest'
import {runChecks} from '../../src/check/runner.js'
import {CheckWarning, type Category, type Check} from '../../src/check/types.js'

type Ctx = {calls: string[]}

function check(id: string, over: Partial<Check<Ctx>> & {fails?: number | 'always'; warn?: boolean} = {}): Check<Ctx> {
  let attempts = 0
  return {
    id,
    description: `check ${id}`,
    hint: `fix ${id}`,
    ...over,
    async run(ctx) {
      ctx.calls.push(id)
      attempts++
      if (over.warn) throw new CheckWarning(`${id} is odd`)
      if (over.fails === 'always' || attempts <= (over.fails ?? 0)) throw new Error(`${id} failed (attempt ${attempts})`)
    },
  }
}

const cat = (name: string, checks: Check<Ctx>[]): Category<Ctx> => ({name, checks})

describe('runChecks', () => {
  it('reports success, warning and error, and success is false only for a non-warning failure', async () => {
    const ctx = {calls: []}
    const report = await runChecks(
      [cat('a', [check('MESH0001'), check('MESH0002', {fails: 'always', warning: true}), check('MESH0003', {warn: true})])],
      ctx,
    )
    expect(report.success).toBe(true)
    expect(report.categories[0]!.checks.map((c) => [c.id, c.result, c.error])).toEqual([
      ['MESH0001', 'success', ''],
      ['MESH0002', 'warning', 'MESH0002 failed (attempt 1)'],
      ['MESH0003', 'warning', 'MESH0003 is odd'],
    ])
    const failing = await runChecks([cat('a', [check('MESH0001'), check('MESH0004', {fails: 'always'})])], {calls: []})
    expect(failing.success).toBe(false)
    expect(failing.categories[0]!.checks[1]).toMatchObject({result: 'error', error: 'MESH0004 failed (attempt 1)', hint: 'fix MESH0004'})
  })

  it('a failing fatal check stops the run: nothing after it runs', async () => {
    const ctx: Ctx = {calls: []}
    const report = await runChecks(
      [cat('a', [check('MESH0001'), check('MESH0002', {fatal: true, fails: 'always'}), check('MESH0003')]), cat('b', [check('MESH0004')])],
      ctx,
    )
    expect(ctx.calls).toEqual(['MESH0001', 'MESH0002'])
    expect(report.categories.map((c) => c.categoryName)).toEqual(['a'])
    expect(report.success).toBe(false)
  })

  it('a failing non-fatal check does not stop the run', async () => {
    const ctx: Ctx = {calls: []}
    await runChecks([cat('a', [check('MESH0001', {fails: 'always'}), check('MESH0002')]), cat('b', [check('MESH0003')])], ctx)
    expect(ctx.calls).toEqual(['MESH0001', 'MESH0002', 'MESH0003'])
  })

  it('without --wait a retryable check runs once', async () => {
    const ctx: Ctx = {calls: []}
    const report = await runChecks([cat('a', [check('MESH0001', {fails: 2, retryDeadline: 60_000})])], ctx, {retryIntervalMs: 1})
    expect(ctx.calls).toEqual(['MESH0001'])
    expect(report.success).toBe(false)
  })

  it('with --wait a retryable check is retried until it passes, and reports each attempt', async () => {
    const ctx: Ctx = {calls: []}
    const attempts: Array<[number, string | undefined]> = []
    const report = await runChecks([cat('a', [check('MESH0001', {fails: 2, retryDeadline: 60_000})])], ctx, {
      waitMs: 10_000,
      retryIntervalMs: 5,
      observer: {onAttempt: (_c, n, last) => attempts.push([n, last])},
    })
    expect(report.success).toBe(true)
    expect(ctx.calls).toEqual(['MESH0001', 'MESH0001', 'MESH0001'])
    expect(attempts).toEqual([
      [1, undefined],
      [2, 'MESH0001 failed (attempt 1)'],
      [3, 'MESH0001 failed (attempt 2)'],
    ])
  })

  it('with --wait a non-retryable check still runs once', async () => {
    const ctx: Ctx = {calls: []}
    await runChecks([cat('a', [check('MESH0001', {fails: 1})])], ctx, {waitMs: 10_000, retryIntervalMs: 1})
    expect(ctx.calls).toEqual(['MESH0001'])
  })

  it('retries stop at the --wait deadline, and at the check\'s own retryDeadline, on the runner\'s clock', async () => {
    let now = 0
    const clock = () => now
    const sleep = async (ms: number) => {
      now += ms
    }
    const ctx: Ctx = {calls: []}
    const report = await runChecks([cat('a', [check('MESH0001', {fails: 'always', retryDeadline: 60_000})])], ctx, {waitMs: 10_000, retryIntervalMs: 1000, clock, sleep})
    expect(report.categories[0]!.checks[0]!.result).toBe('error')
    // attempts at t = 0, 1, ..., 10 s: the 11th would start after the deadline
    expect(ctx.calls.length).toBe(11)
    now = 0
    const ctx2: Ctx = {calls: []}
    await runChecks([cat('a', [check('MESH0002', {fails: 'always', retryDeadline: 3000})])], ctx2, {waitMs: 10_000, retryIntervalMs: 1000, clock, sleep})
    expect(ctx2.calls.length).toBe(4)
  })
})
