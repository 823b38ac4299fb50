// Runs `mesh top` in process while some traffic flows, and returns what it printed: started
// once a pod's stream is open, stopped once `events` tap events were counted and one more
// periodic snapshot was printed after them.
import {Output} from '../../src/lib/output.js'
import {runTopCommand, type TopFlags} from '../../src/tapclient/top-run.js'
import {eventually} from '../helpers/eventually.js'

export async function topWhile(resource: string, flags: Partial<TopFlags>, events: number, traffic: () => Promise<unknown>): Promise<string> {
  let stdout = ''
  const out = new Output({stdout: {write: (c: string) => (stdout += c)}, stderr: {write: () => true}, env: {NO_COLOR: '1'}})
  const abort = new AbortController()
  let seen = 0
  let started: () => void = () => {}
  const ready = new Promise<void>((r) => (started = r))
  const run = runTopCommand(out, resource, {paths: false, interval: '200ms', 'max-rps': 1000, output: 'json', ...flags}, {
    signal: abort.signal,
    onMessage: (m) => {
      if (m.type === 'podStart') started()
      if (m.type === 'event') seen++
    },
  })
  await Promise.race([ready, run])
  await traffic()
  // Every event is in the table once counted here (the hook runs before the aggregation, in
  // the same turn); then at least one periodic snapshot, so the output has one besides the last.
  await eventually(`${events} tap events`, () => (seen >= events ? true : undefined), {timeoutMs: 30_000, intervalMs: 50})
  const printed = stdout.length
  await eventually('a periodic snapshot after the traffic', () => (stdout.length > printed ? true : undefined), {timeoutMs: 30_000, intervalMs: 50})
  abort.abort()
  await run
  return stdout
}
