// `mesh top` as a person sees it: the real binary in a real terminal (tmux), the screen read
// back with capture-pane. Keys: s changes the sort, q quits and leaves the last table.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT} from '../helpers/run.js'
import {scriptedTraffic, startLocalPlane, startMeshPod, type MeshPod, type Plane} from '../tap/harness.js'

const socket = `mesh-top-${randomBytes(4).toString('hex')}`
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], {encoding: 'utf8'})
const screen = (): string => tmux('capture-pane', '-p', '-t', 'top')

async function waitForScreen(cond: (s: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms
  let s = ''
  while (Date.now() < deadline) {
    s = screen()
    if (cond(s)) return s
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`)
}

let books: MeshPod
let web: MeshPod
let plane: Plane

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  plane = await startLocalPlane([books.info, web.info])
})

afterAll(async () => {
  try {
    tmux('kill-server')
  } catch {
    // already gone
  }
  await plane?.close()
  await Promise.all([books?.stop(), web?.stop()])
})

describe('mesh top in a terminal', () => {
  it('redraws the table in place, s changes the sort, q quits', async () => {
    const cmd = `cd ${JSON.stringify(ROOT)} && MESH_HOME=${JSON.stringify(plane.home)} KUBECONFIG=/nonexistent NO_COLOR=1 ${JSON.stringify(process.execPath)} --import tsx --no-warnings bin/dev.js top deploy/web --interval 300ms; echo "EXIT=$?"; sleep 60`
    tmux('new-session', '-d', '-s', 'top', '-x', '150', '-y', '30', cmd)
    await waitForScreen((s) => s.includes('mesh top deploy/web') && s.includes('(waiting for requests...)') && s.includes('tapping 1 pod'), 'the empty live screen, connected')
    await scriptedTraffic(web, 'books:80')
    let s = await waitForScreen((x) => /web-0\s+books-0\s+GET\s+\/slow\s+5\s/.test(x), 'all three rows')
    const lines = s.split('\n')
    expect(lines[0]).toMatch(/^mesh top deploy\/web\s+sort: count\s+3 rows\s+\(q: quit, s: change sort\)/)
    const head = lines.findIndex((l) => l.startsWith('SOURCE'))
    expect(lines[head].split(/\s+/)).toEqual(['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'COUNT', 'SUCCESS', 'P50', 'P95', 'P99', 'LAST', 'BEST', 'WORST'])
    expect(lines[head + 1]).toMatch(/^web-0\s+books-0\s+GET\s+\/ok\s+20\s+100\.00%/)
    expect(lines[head + 2]).toMatch(/^web-0\s+books-0\s+GET\s+\/fail\s+5\s+0\.00%/)
    expect(lines[head + 3]).toMatch(/^web-0\s+books-0\s+GET\s+\/slow\s+5\s+100\.00%/)
    // One screen, redrawn in place: the title appears once.
    expect(s.match(/mesh top deploy\/web/g)).toHaveLength(1)

    tmux('send-keys', '-t', 'top', 's')
    s = await waitForScreen((x) => x.includes('sort: success'), 'the sort by success')
    const sorted = s.split('\n')
    const h = sorted.findIndex((l) => l.startsWith('SOURCE'))
    expect(sorted[h + 1]).toMatch(/\/fail\s+5\s+0\.00%/)

    tmux('send-keys', '-t', 'top', 'q')
    s = await waitForScreen((x) => x.includes('EXIT=0'), 'the exit after q')
    // The alternate screen is gone; the last table stays on the normal screen.
    expect(s).toMatch(/web-0\s+books-0\s+GET\s+\/fail\s+5\s+0\.00%/)
    expect(s).not.toContain('Error')
  })
})
