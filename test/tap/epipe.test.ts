// A closed pipe ends the command: `mesh tap deploy/books | head -1` and `mesh top ... | head -1`
// (text and -o json) exit 0 as soon as they write into the closed pipe, and close their stream,
// so the tap server ends its streams to the proxies. The real binary (bin/run.js) against the
// real local tap server and real proxies; the reader is this test, which stops reading.
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {eventually} from '../helpers/eventually.js'
import {ROOT} from '../helpers/run.js'
import {send, startWebAndBooks, type MeshPod, type Plane} from './harness.js'

let books: MeshPod
let web: MeshPod
let plane: Plane
let close: () => Promise<void>

beforeAll(async () => {
  ;({books, web, plane, close} = await startWebAndBooks())
})

afterAll(async () => {
  await close?.()
})

interface Running {
  child: ChildProcessWithoutNullStreams
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  stderr: () => string
  /** Resolves with the first chunk the command writes to stdout. */
  firstOutput: Promise<string>
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, ['bin/run.js', ...args], {
    cwd: ROOT,
    env: {...process.env, ...plane.env, KUBECONFIG: '/nonexistent/kubeconfig', NO_COLOR: '1'},
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})))
  const firstOutput = new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString('utf8'))))
  child.stdin.end()
  return {child, exited, stderr: () => stderr, firstOutput}
}

/** Sends requests web -> books until `done` resolves (at most `max` of them: a bounded loop). */
async function trafficUntil(done: Promise<unknown>, max = 2_000): Promise<void> {
  let finished = false
  void done.then(() => (finished = true))
  for (let i = 0; i < max && !finished; i++) {
    await send(web, 'books:80', `/ok/${i}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The reader goes away after the first output: the command must exit 0 and close its streams. */
async function closeAfterFirstOutput(args: string[]): Promise<void> {
  const run = start(args)
  // Hang guard: a command that never exits fails here instead of hanging the suite.
  const guard = setTimeout(() => run.child.kill('SIGKILL'), 60_000)
  try {
    await trafficUntil(run.firstOutput)
    expect(await Promise.race([run.firstOutput, run.exited.then(() => 'exited early')])).not.toBe('exited early')
    run.child.stdout.destroy()
    await trafficUntil(run.exited)
    const {code, signal} = await run.exited
    expect({code, signal, stderr: run.stderr()}).toEqual({code: 0, signal: null, stderr: expect.not.stringMatching(/Error|EPIPE|\n\s+at /)})
    // The tap server saw the stream end and ended its streams to the proxies.
    await eventually('the proxies to lose their tap subscribers', () => (books.hub.subscriberCount === 0 && web.hub.subscriberCount === 0 ? true : undefined))
  } finally {
    clearTimeout(guard)
    run.child.kill('SIGKILL')
  }
}

describe('a reader that goes away (EPIPE)', {timeout: 120_000}, () => {
  it('mesh tap deploy/books | head -1 exits 0 and closes its stream', async () => {
    await closeAfterFirstOutput(['tap', 'deploy/books'])
  })

  it('mesh tap deploy/books -o json | head -1 exits 0 and closes its stream', async () => {
    await closeAfterFirstOutput(['tap', 'deploy/books', '-o', 'json'])
  })

  it('mesh top deploy/books | head -1 exits 0 and closes its stream', async () => {
    await closeAfterFirstOutput(['top', 'deploy/books', '--interval', '200ms'])
  })

  it('mesh top deploy/books -o json | head -1 exits 0 and closes its stream', async () => {
    await closeAfterFirstOutput(['top', 'deploy/books', '-o', 'json', '--interval', '200ms'])
  })
})
