// Both HTTP/1 codecs' drains spare a connection that has not carried a request for the same
// grace: FRESH_MS, defined once (src/proxy/http/http1/fresh.ts) and read by the node codec's
// closeIdleHttp1 (server.ts) and the raw codec's drain (raw/drain.ts). Two copies of it had been
// free to drift apart.
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../helpers/run.js'

function sources(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

describe('the drain\'s grace for a fresh HTTP/1 connection', () => {
  const files = sources(join(ROOT, 'src/proxy')).map((f) => ({path: relative(ROOT, f), text: readFileSync(f, 'utf8')}))

  it('is defined in one place', () => {
    expect(files.filter((f) => /\b(?:const|let|var)\s+FRESH_MS\b/.test(f.text)).map((f) => f.path)).toEqual(['src/proxy/http/http1/fresh.ts'])
  })

  it('is what both codecs\' drains read', () => {
    const readers = files.filter((f) => /\bFRESH_MS\b/.test(f.text) && f.path !== 'src/proxy/http/http1/fresh.ts')
    expect(readers.map((f) => f.path).sort()).toEqual(['src/proxy/http/http1/raw/drain.ts', 'src/proxy/http/http1/server.ts'])
    for (const f of readers) expect(f.text, f.path).toMatch(/import \{FRESH_MS\} from '\.\.?\/(?:\.\.\/)?fresh\.js'/)
  })
})
