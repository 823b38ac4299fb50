// How long `mesh --help` and `mesh version --client` take to start, from the compiled dist/ (the way a
// user runs the installed binary), next to a bare `node -e 0` on the same machine and to the
// same commands with the fast path off (oclif loaded). A benchmark: it prints numbers, it
// asserts nothing. Run: npm run build && npx tsx bench/cli-startup.ts [runs]
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {loadavg} from 'node:os'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const runs = Number(process.argv[2] ?? 20)
const RUN = `${ROOT}bin/run.js`

interface Case { label: string, args: string[], env?: Record<string, string> }
const cases: Case[] = [
  {label: 'node -e 0 (baseline)', args: ['-e', '0']},
  {label: 'mesh --help', args: [RUN, '--help']},
  {label: 'mesh version --client', args: [RUN, 'version', '--client']},
  {label: 'mesh version --client -o json', args: [RUN, 'version', '--client', '-o', 'json']},
  {label: 'mesh --help (oclif)', args: [RUN, '--help'], env: {MESH_NO_FAST_PATH: '1'}},
  {label: 'mesh version --client (oclif)', args: [RUN, 'version', '--client'], env: {MESH_NO_FAST_PATH: '1'}},
  {label: 'mesh inject --help', args: [RUN, 'inject', '--help']},
]

if (!existsSync(`${ROOT}dist/commands`)) {
  process.stderr.write('bench/cli-startup: dist/ is missing; run `npm run build` first\n')
  process.exitCode = 1
} else {
  const manifest = existsSync(`${ROOT}oclif.manifest.json`)
  console.log(`mesh CLI start-up, ${runs} runs each (interleaved), oclif manifest: ${manifest ? 'yes' : 'no'}, load average ${loadavg()[0].toFixed(2)}`)
  const times = cases.map((): number[] => [])
  // Interleaved rounds, so a burst of load elsewhere hits every case alike.
  for (let i = 0; i < runs; i++) {
    cases.forEach((c, k) => {
      const t0 = process.hrtime.bigint()
      const r = spawnSync(process.execPath, c.args, {stdio: 'ignore', env: {...process.env, NO_COLOR: '1', ...c.env}})
      if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}`)
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6)
    })
  }
  console.log(['command'.padEnd(26), 'min ms', 'p50 ms', 'p95 ms', 'max ms', 'p50 over node'].join('  '))
  const p50 = (t: number[]): number => t[Math.floor(0.5 * t.length)]
  times.forEach((t) => t.sort((a, b) => a - b))
  const base = p50(times[0])
  cases.forEach((c, k) => {
    const t = times[k]
    const q = (p: number): string => t[Math.min(t.length - 1, Math.floor(p * t.length))].toFixed(1).padStart(6)
    const d = p50(t) - base
    const over = k === 0 ? '' : `${d >= 0 ? '+' : ''}${d.toFixed(1)}`.padStart(13)
    console.log([c.label.padEnd(26), q(0), q(0.5), q(0.95), t.at(-1)!.toFixed(1).padStart(6), over].join('  '))
  })
}
