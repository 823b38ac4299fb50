import {readFileSync} from 'node:fs'

let cached: string | undefined

/** The version of this build of mesh, from package.json (the one source of truth). */
export function meshVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}
    cached = pkg.version
  }
  return cached
}
