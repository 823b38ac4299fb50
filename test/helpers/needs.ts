// What a suite needs beyond Node and the build, said once, at the top of the suite, so that it
// fails with a reason and a fix instead of an EPERM deep in a hook, and so that
// `npm run test:unit` (vitest.unit.config.ts) can leave it out: that config excludes every
// test file that calls requireRoot() or requireNative().
import {existsSync} from 'node:fs'
import path from 'node:path'
import {beforeAll} from 'vitest'
import {ROOT} from './run.js'

/** The suite needs root: `why` says what it does that only root may (network namespaces, ...). */
export function requireRoot(suite: string, why: string): void {
  beforeAll(() => {
    if (process.getuid?.() === 0) return
    throw new Error(`${suite} needs root: ${why}. Run it as root (npm test runs it, as .ci/run does), ` +
      'or run `npm run test:unit`, which runs every suite that needs neither root nor the native addons.')
  })
}

export type NativeAddon = 'original_dst' | 'malloc_trim' | 'code_pages'

/** The suite needs a native addon that `npm run build` builds (scripts/build-native.sh). */
export function requireNative(suite: string, addon: NativeAddon, why: string): void {
  beforeAll(() => {
    const file = path.join(ROOT, 'native', 'build', `${addon}.node`)
    if (existsSync(file)) return
    throw new Error(`${suite} needs the native addon ${path.relative(ROOT, file)} (${why}), which the build could not make here: ` +
      'scripts/build-native.sh needs Linux, a C compiler and Node\'s headers (apt-get install -y gcc; it says which is missing when run with BUILD_NATIVE_REQUIRED=1). ' +
      'Or run `npm run test:unit`, which leaves the suites that need it out.')
  })
}
