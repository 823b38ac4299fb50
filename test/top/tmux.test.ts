// `mesh top` as a person sees it: the real binary in a real terminal (tmux), the screen read
// back with capture-pane. Keys: s changes the sort, q quits and leaves the last table.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT} from '../helpers/run.js'
import {Tmux} from '../helpers/tmux.js'
import {scriptedTraffic, startLocalPlane, startMeshPod, type MeshPod, type Plane} from '../tap/harness.js'

const tmux = new Tmux(150, 30)
const waitForScreen = (cond: (s: string) => boolean, what: string): Promise<string> => tmux.waitFor('top', cond, what)

let books: MeshPod
let web: MeshPod
let plane: Plane

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  plane = await startLocalPlane([books.info, web.info])
})

afterAll(async () => {
  tmux.close()
  await plane?.close()
  await Promise.all([books?.stop(), web?.stop()])
})

describe('mesh top in a terminal', () => {
  it('redraws the table in place, s changes the sort, q quits', async () => {
    const cmd = `cd ${JSON.stringify(ROOT)} && MESH_HOME=${JSON.stringify(plane.home)} KUBECONFIG=/nonexistent NO_COLOR=1 ${JSON.stringify(process.execPath)} --import tsx --no-warnings bin/dev.js top deploy/web --interval 300ms; echo "EXIT=$?"; sleep 60`
    tmux.window('top', cmd)
    await waitForScreen((s) => s.includes('mesh top deploy/web') && s.includes('(waiting for requests...)') && s.includes('tapping 1 pod'), 'the empty live screen, connected')
    await scriptedTraffic(web, 'books:80')
    let s = await waitForScreen((x) => /web-0\s+books-0\s+GET\s+\/slow\s+5\s/.test(x), 'all three rows')
    const lines = s.split('\n')
    expect(lines[0]).toMatch(/^mesh top deploy\/web\s+sort: count\s+3 rows\s+\(q: quit, s: change sort\)/)
    const head = lines.findIndex((l) => l.startsWith('SOURCE'))
    expect(lines[head].split(/\s+/)).toEqual(['SOURCE', 'DESTINATION', 'METHOD', 'ROUTE', 'COUNT', 'SUCCESS', 'P50', 'P95', 'P99', 'LAST', 'BEST', 'WORST'])
    expect(lines[head + 1]).toMatch(/^web-0\s+books-0\s+GET\s+\/ok\s+20\s+100\.00%/)
    expect(lines[head + 2]).toMatch(/^web-0\s+books-0\s+GET\s+\/fail\s+5\s+0\.00%/)
    expect(lines[head + 3]).toMatch(/^web-0\s+books-0\s+GET\s+\/slow\s+5\s+100\.00%/)
    // One screen, redrawn in place: the title appears once.
    expect(s.match(/mesh top deploy\/web/g)).toHaveLength(1)

    tmux.keys('top', 's')
    s = await waitForScreen((x) => x.includes('sort: success'), 'the sort by success')
    const sorted = s.split('\n')
    const h = sorted.findIndex((l) => l.startsWith('SOURCE'))
    expect(sorted[h + 1]).toMatch(/\/fail\s+5\s+0\.00%/)

    tmux.keys('top', 'q')
    s = await waitForScreen((x) => x.includes('EXIT=0'), 'the exit after q')
    // The alternate screen is gone; the last table stays on the normal screen.
    expect(s).toMatch(/web-0\s+books-0\s+GET\s+\/fail\s+5\s+0\.00%/)
    expect(s).not.toContain('Error')
  })
})
