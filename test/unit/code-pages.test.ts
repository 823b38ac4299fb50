// The code_pages addon (native/code_pages.c, src/proxy/net/code-pages.ts): the node binary's
// read-only, never-written mappings leave the resident set, written (copy-on-write) pages and
// everything else stay, and the process goes on working (the pages come back from the page
// cache). Then the sidecar as the injector runs it: it drops them once serving and still serves.
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import http from 'node:http'
import {readFileSync, readlinkSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'
import {codePagesSupport} from '../../src/proxy/net/code-pages.js'
import {eventually} from '../helpers/eventually.js'
import {requireNative} from '../helpers/needs.js'
import {freePort} from '../helpers/ports.js'
import {ROOT} from '../helpers/run.js'
import {closeServer, listenOn} from '../proxy/helpers.js'

requireNative('code-pages.test.ts', 'code_pages', 'it is the code under test')

interface Mapping {perms: string, rssKB: number, anonKB: number}

/** The executable's mappings in smaps text, in address order. */
function parse(text: string, exe: string): Mapping[] {
  const out: Mapping[] = []
  let cur: Mapping | undefined
  for (const line of text.split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (h) {
      cur = h[2] === exe ? {perms: h[1], rssKB: 0, anonKB: 0} : undefined
      if (cur) out.push(cur)
      continue
    }
    const f = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line)
    if (cur && f) cur[f[1] === 'Rss' ? 'rssKB' : 'anonKB'] = Number(f[2])
  }
  return out
}

const exeMappings = (pid: number): Mapping[] => parse(readFileSync(`/proc/${pid}/smaps`, 'utf8'), readlinkSync(`/proc/${pid}/exe`))
const sum = (ms: Mapping[], pick: (m: Mapping) => boolean): number => ms.filter(pick).reduce((a, m) => a + m.rssKB, 0)
const dropped = (m: Mapping): boolean => !m.perms.includes('w') && m.anonKB === 0

// In a child (its own mappings): the mappings before and after one drop, what the call
// returned, and work done afterwards that runs the binary's code again (hashing, TLS contexts,
// compression, a full GC), with its results checked against the parent's.
const CHILD = `
import {createHash} from 'node:crypto'
import {createSecureContext} from 'node:tls'
import {gzipSync, gunzipSync} from 'node:zlib'
import {readFileSync, readlinkSync} from 'node:fs'
import {dropCodePages} from './src/proxy/net/code-pages.ts'
const smaps = () => readFileSync('/proc/self/smaps', 'utf8')
const kept = {list: Array.from({length: 1000}, (_, i) => ({i, s: 'x'.repeat(i % 50)}))}
createHash('sha256').update('warm').digest('hex')
const before = smaps()
const bytes = dropCodePages()
const after = smaps()
globalThis.gc()
createSecureContext({})
const work = {
  sha256: createHash('sha256').update('mesh').digest('hex'),
  gzip: gunzipSync(gzipSync(Buffer.from('mesh '.repeat(1000)))).toString().length,
  kept: kept.list.reduce((a, o) => a + o.i + o.s.length, 0),
}
process.stdout.write(JSON.stringify({bytes, before, after, work}))
`

describe('dropCodePages', () => {
  it('loads the native addon', () => {
    expect(codePagesSupport()).toEqual({available: true})
  })

  it('takes the binary\'s read-only pages out of the resident set, keeps written ones, and the process works on', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--input-type=module', '-e', CHILD], {cwd: ROOT, encoding: 'utf8'})
    const r = JSON.parse(out) as {bytes: number, before: string, after: string, work: {sha256: string, gzip: number, kept: number}}
    const exe = process.execPath
    const before = parse(r.before, exe)
    const after = parse(r.after, exe)
    expect(before.length).toBeGreaterThan(2)
    expect(after.map((m) => m.perms)).toEqual(before.map((m) => m.perms))
    const droppable = sum(before, dropped)
    // Several MB of code were resident, the call reports them, and (nearly) all left the set.
    expect(droppable).toBeGreaterThan(8 * 1024)
    expect(r.bytes / 1024).toBe(droppable)
    expect(sum(after, dropped)).toBeLessThan(droppable / 4)
    // Pages that were written (relocations, data) are not touched.
    for (const [i, m] of before.entries()) if (!dropped(m)) expect(after[i].anonKB).toBe(m.anonKB)
    // The same results as here: the code paged back in is the binary's.
    expect(r.work).toEqual({
      sha256: createHash('sha256').update('mesh').digest('hex'),
      gzip: 5000,
      kept: Array.from({length: 1000}, (_, i) => i + (i % 50)).reduce((a, b) => a + b, 0),
    })
  })
})

describe('the sidecar', () => {
  let child: ChildProcess | undefined
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
  })

  it('drops the start-up code pages once serving, and serves on', async () => {
    const app = http.createServer((req, res) => res.end(`app ${req.url}`))
    const appPort = await listenOn(app)
    const [inbound, outbound, admin, tap] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
    let stderr = ''
    try {
      child = spawn(process.execPath, ['bin/run.js', 'proxy'], {cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: {
        ...process.env, MESH_PROXY_LOG_LEVEL: 'debug',
        MESH_PROXY_INBOUND_LISTEN_ADDR: `127.0.0.1:${inbound}`, MESH_PROXY_OUTBOUND_LISTEN_ADDR: `127.0.0.1:${outbound}`,
        MESH_PROXY_ADMIN_LISTEN_ADDR: `127.0.0.1:${admin}`, MESH_PROXY_TAP_LISTEN_ADDR: `127.0.0.1:${tap}`,
        MESH_PROXY_INBOUND_FORWARD_ADDR: `127.0.0.1:${appPort}`, MESH_PROXY_STATIC_ROUTES: `web.test:80=127.0.0.1:${inbound}`,
      }})
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      const pid = child.pid!
      const get = (path: string): Promise<string> => new Promise((resolve, reject) => {
        http.get({host: '127.0.0.1', port: outbound, path, headers: {host: 'web.test'}, agent: false}, (res) => {
          let body = ''
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body))
        }).on('error', reject)
      })
      expect(await eventually('the proxy to serve', () => get('/before').catch(() => undefined), {timeoutMs: 30_000, context: () => stderr})).toBe('app /before')
      const started = sum(exeMappings(pid), dropped)
      const line = await eventually('the drop to be logged', () => /dropped start-up code pages residentMB=(\d+)/.exec(stderr) ?? undefined, {timeoutMs: 30_000, context: () => stderr})
      expect(Number(line[1])).toBeGreaterThan(8)
      expect(sum(exeMappings(pid), dropped)).toBeLessThan(started)
      expect(await get('/after')).toBe('app /after')
    } finally {
      await closeServer(app)
    }
  })
})
