import {readFileSync} from 'node:fs'
import {packageRoot} from './package-root.js'

let cached: string | undefined

/** The version of this build of mesh, from package.json (the one source of truth). */
export function meshVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('package.json', packageRoot(import.meta.url)), 'utf8')) as {version: string}
    cached = pkg.version
  }
  return cached
}
