// The long differential run of the raw HTTP/1 codec's parser against llhttp: the generators and
// the comparison of test/proxy/http1-differential.test.ts (test/proxy/http1-diff/), on many more
// cases. Prints what it found, by kind (looser: the raw codec accepts what llhttp refuses or reads
// differently, a bug; stricter: it refuses what llhttp accepts, answered 400/502; stalls: it waits
// where llhttp completed a message), with one example each. Exits 1 when anything looser is found.
//   npx tsx scripts/fuzz-http1.ts [--cases=N per kind, default 100000] [--seed=S]
import fc from 'fast-check'
import {compareRequests, compareResponses, type Finding} from '../test/proxy/http1-diff/compare.js'
import {requestStreams, responseStreams, type Case} from '../test/proxy/http1-diff/gen.js'

const arg = (name: string, fallback: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`))
  return a ? Number(a.slice(name.length + 3)) : fallback
}
const cases = arg('cases', 100_000)
const seed = arg('seed', Date.now() % 2 ** 31)
const limits = {maxHeaderBytes: 16 * 1024, maxHeaderCount: 100}

const kinds: [string, fc.Arbitrary<Case>, (c: Case, l: typeof limits) => Finding | undefined][] = [
  ['requests, valid and near-valid', requestStreams(false), compareRequests],
  ['requests, mutated', requestStreams(true), compareRequests],
  ['responses, valid and near-valid', responseStreams(false), compareResponses],
  ['responses, mutated', responseStreams(true), compareResponses],
]

process.stdout.write(`fuzz-http1: ${cases} cases per kind, seed ${seed}, llhttp ${process.versions.llhttp}, node ${process.version}\n`)
let looser = 0
let total = 0
const started = performance.now()
for (const [name, arb, compare] of kinds) {
  const found = new Map<string, {n: number, example: Finding}>()
  const batch = 5000
  for (let done = 0; done < cases; done += batch) {
    for (const c of fc.sample(arb, {numRuns: Math.min(batch, cases - done), seed: seed + done})) {
      total++
      const f = compare(c, limits)
      if (!f) continue
      // (the class of a finding: its text without the numbers)
      const key = `${f.kind}: ${f.what.replace(/\d+/g, 'N').replace(/ \(then refuses.*$/, '')}`
      const entry = found.get(key)
      if (entry) entry.n++
      else found.set(key, {n: 1, example: f})
      if (f.kind === 'looser') looser++
    }
  }
  const count = [...found.values()].reduce((a, b) => a + b.n, 0)
  process.stdout.write(`\n${name}: ${cases} cases, ${count} findings\n`)
  for (const [key, {n, example}] of [...found].sort((a, b) => b[1].n - a[1].n)) {
    process.stdout.write(`  ${String(n).padStart(7)}  ${key}\n           e.g. ${example.what}: ${example.bytes.slice(0, 300)}\n`)
  }
}
process.stdout.write(`\n${total} cases in ${((performance.now() - started) / 1000).toFixed(1)} s; ${looser} looser than llhttp\n`)
process.exitCode = looser > 0 ? 1 : 0
