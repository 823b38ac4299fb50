// Reading inputs: directories recursively, https URLs against a real local TLS server
// (self-signed, trusted through the library's `ca` option), size and scheme limits.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {readSources} from '../../src/inject/inputs.js'
import {startHttps, type LocalHttps} from './https-server.js'

let dir: string
let https: LocalHttps
const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: remote\nspec:\n  containers:\n  - name: a\n    image: a:1\n'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-inject-in-'))
  mkdirSync(join(dir, 'b', 'deeper'), {recursive: true})
  writeFileSync(join(dir, 'a.yaml'), 'kind: A\n')
  writeFileSync(join(dir, 'b', 'c.yml'), 'kind: C\n')
  writeFileSync(join(dir, 'b', 'deeper', 'd.json'), '{"kind": "D"}\n')
  writeFileSync(join(dir, 'b', 'notes.txt'), 'not a manifest\n')
  https = await startHttps({
    '/app.yaml': [200, POD],
    '/moved': [302, '', {location: '/app.yaml'}],
    '/gone': [410, 'gone'],
  })
})

afterAll(async () => {
  rmSync(dir, {recursive: true, force: true})
  await https.close()
})

describe('readSources', () => {
  it('walks directories recursively, YAML and JSON only, in a stable order', async () => {
    const sources = await readSources([dir])
    expect(sources.map((s) => s.name.slice(dir.length + 1))).toEqual(['a.yaml', 'b/c.yml', 'b/deeper/d.json'])
  })

  it('reads stdin for -', async () => {
    const sources = await readSources(['-'], {stdin: Readable.from(['kind: ', 'Pod\n'])})
    expect(sources).toEqual([{name: '<stdin>', text: 'kind: Pod\n'}])
  })

  it('says how to end the input when stdin is a terminal, and nothing when it is a pipe', async () => {
    const heard: string[] = []
    const tty = Object.assign(Readable.from(['kind: Service\n']), {isTTY: true})
    await readSources(['-'], {stdin: tty, notice: (l) => heard.push(l)})
    expect(heard).toEqual(['reading manifests from the terminal; end with Ctrl-D'])
    await readSources(['-'], {stdin: Readable.from(['kind: Service\n']), notice: (l) => heard.push(l)})
    expect(heard).toHaveLength(1)
  })

  it('names a missing file', async () => {
    await expect(readSources([join(dir, 'nope.yaml')])).rejects.toThrow(/nope\.yaml: no such file or directory/)
  })

  it('fetches an https URL that answers 200, following a redirect', async () => {
    const sources = await readSources([`${https.url}/moved`], {ca: https.certPem})
    expect(sources[0].text).toBe(POD)
  })

  it('refuses a URL that does not answer 200, naming the URL and the status', async () => {
    await expect(readSources([`${https.url}/gone`], {ca: https.certPem})).rejects.toThrow(`${https.url}/gone: the server answered 410 Gone, not 200`)
  })

  it('refuses a server whose certificate is not trusted', async () => {
    await expect(readSources([`${https.url}/app.yaml`])).rejects.toThrow(/self-signed certificate/)
  })

  it('refuses plain http with a hint to use https', async () => {
    await expect(readSources(['http://127.0.0.1:1/app.yaml'])).rejects.toMatchObject({
      message: 'http://127.0.0.1:1/app.yaml: only https URLs are read',
      suggestions: [expect.stringContaining('https://127.0.0.1:1/app.yaml')],
    })
  })

  it('bounds stdin', async () => {
    const big = Readable.from((function* () {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(1024 * 1024, 32)
    })())
    await expect(readSources(['-'], {stdin: big})).rejects.toThrow(/<stdin> is larger than 32 MiB/)
  })
})
