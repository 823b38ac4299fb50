// How long `mesh --help` and `mesh version` take to start, from the compiled dist/ (the way a
// user runs the installed binary). A benchmark: it prints numbers, it asserts nothing.
// Run: npm run build && npx tsx bench/cli-startup.ts [runs]   (add the oclif manifest first
// with `npx oclif manifest` to measure the packaged start-up).
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const runs = Number(process.argv[2] ?? 20)
if (!existsSync(`${ROOT}dist/commands`)) {
  process.stderr.write('bench/cli-startup: dist/ is missing; run `npm run build` first\n')
  process.exitCode = 1
} else {
  const cases = [['--help'], ['version'], ['version', '-o', 'json']]
  const manifest = existsSync(`${ROOT}oclif.manifest.json`)
  console.log(`mesh CLI start-up, ${runs} runs each, oclif manifest: ${manifest ? 'yes' : 'no'}`)
  console.log(['command'.padEnd(24), 'min ms', 'p50 ms', 'p95 ms', 'max ms'].join('  '))
  for (const args of cases) {
    const times: number[] = []
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint()
      const r = spawnSync(process.execPath, [`${ROOT}bin/run.js`, ...args], {stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
      if (r.status !== 0) throw new Error(`mesh ${args.join(' ')} exited ${r.status}`)
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    times.sort((a, b) => a - b)
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1)
    console.log([`mesh ${args.join(' ')}`.padEnd(24), q(0).padStart(6), q(0.5).padStart(6), q(0.95).padStart(6), times.at(-1)!.toFixed(1).padStart(6)].join('  '))
  }
}
