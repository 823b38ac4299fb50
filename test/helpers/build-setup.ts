// vitest globalSetup: the suites that run the compiled binary (bin/run.js over dist/, the
// proxy's fast path, the demo's children, the e2e pods) need a build that matches the sources.
// A fresh clone has no dist/ at all (`git clone && npm ci && npm test` must still pass), and a
// contributor who edited src/ after building would otherwise test yesterday's code. So: when
// dist/ is missing, or older than any of the sources that make it, run `npm run build` once
// before any test file starts. Concurrent vitest runs in one tree take turns (a lock file).
// MESH_TEST_NO_BUILD=1 skips it (the caller promises dist/ is current).
import {execFileSync} from 'node:child_process'
import {closeSync, existsSync, openSync, readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** What `npm run build` reads: a change to any of these makes dist/ stale. */
const INPUTS = ['src', 'scripts', 'native', 'package.json', 'tsconfig.json']
/** What it writes; the oldest of these must be newer than every input. */
const OUTPUTS = ['dist']

function walk(p: string, visit: (file: string, mtimeMs: number) => void): void {
  let st
  try {
    st = statSync(p)
  } catch {
    return
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(p)) if (name !== 'build' || !p.endsWith('native')) walk(path.join(p, name), visit)
  } else visit(p, st.mtimeMs)
}

/** Why dist/ must be rebuilt, or undefined when it is current. */
export function staleBuild(root = ROOT): string | undefined {
  if (!existsSync(path.join(root, 'dist/commands')) || !existsSync(path.join(root, 'dist/proxy/main.js'))) return 'dist/ is missing'
  // The sidecar's bundle (scripts/build-proxy.mjs), which bin/run.js runs as `mesh proxy`.
  if (!existsSync(path.join(root, 'dist/proxy/sidecar.cjs'))) return 'dist/proxy/sidecar.cjs is missing'
  let oldestOut = Infinity
  for (const o of OUTPUTS) walk(path.join(root, o), (_, m) => (oldestOut = Math.min(oldestOut, m)))
  let newest = {file: '', m: 0}
  for (const i of INPUTS) walk(path.join(root, i), (file, m) => {
    if (m > newest.m) newest = {file, m}
  })
  return newest.m > oldestOut ? `${path.relative(root, newest.file)} is newer than dist/` : undefined
}

async function withLock<T>(file: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + 300_000
  for (;;) {
    try {
      closeSync(openSync(file, 'wx'))
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // Another vitest in this tree is building: wait for it (a lock older than 5 min is dead).
      const since = statSync(file, {throwIfNoEntry: false})?.mtimeMs ?? Date.now()
      if (Date.now() - since > 300_000 || Date.now() > deadline) rmSync(file, {force: true})
      else await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    return fn()
  } finally {
    rmSync(file, {force: true})
  }
}

export default async function setup(): Promise<void> {
  if (process.env.MESH_TEST_NO_BUILD === '1') return
  await withLock(path.join(ROOT, '.build.lock'), () => {
    const why = staleBuild()
    if (!why) return
    process.stderr.write(`[test setup] ${why}: running \`npm run build\` (the suites that run bin/run.js need it) ...\n`)
    const t0 = Date.now()
    execFileSync('npm', ['run', 'build', '--silent'], {cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit']})
    process.stderr.write(`[test setup] built in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  })
}
