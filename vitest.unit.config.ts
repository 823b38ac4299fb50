import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {defineConfig, mergeConfig} from 'vitest/config'
import base from './vitest.config.js'

// `npm run test:unit`: what a contributor without root (and without a C compiler) can run.
// Every suite `npm test` runs, except those that declare, with requireRoot() or requireNative()
// from test/helpers/needs.ts (or requireChromium() from test/helpers/chromium.ts), that they need
// root, a native addon or a browser: found by reading the test
// files, so the list cannot drift from what the suites say. The build (dist/, which some suites
// run) is made first as for `npm test` (test/helpers/build-setup.ts); it needs neither.
function needsRootOrNative(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...needsRootOrNative(p))
    else if (e.name.endsWith('.test.ts') && /\brequire(Root|Native|Chromium)\(/.test(readFileSync(p, 'utf8'))) out.push(p)
  }
  return out
}

export const UNIT_EXCLUDED = needsRootOrNative('test')

export default mergeConfig(base, defineConfig({
  test: {
    exclude: [...UNIT_EXCLUDED],
  },
}))
