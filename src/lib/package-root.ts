import {existsSync} from 'node:fs'

/**
 * The directory of mesh's package.json, found from a module's own URL (`import.meta.url`) by
 * walking up. Modules reach files of the package (package.json, native/build/) from three
 * places at different depths: src/ (through tsx), dist/ (tsc's output) and the sidecar's bundle
 * dist/proxy/sidecar.cjs (scripts/build-proxy.mjs), so a fixed `../..` cannot serve all three.
 */
export function packageRoot(moduleUrl: string): URL {
  let dir = new URL('.', moduleUrl)
  for (;;) {
    if (existsSync(new URL('package.json', dir))) return dir
    const up = new URL('..', dir)
    if (up.href === dir.href) throw new Error(`no package.json above ${moduleUrl}`)
    dir = up
  }
}
