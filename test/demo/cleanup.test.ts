// `mesh demo` cleans up after itself whatever ends it (issue 20, rule 3), through the compiled
// binary as a user runs it: in a real terminal (tmux) that is closed under it (the tty goes
// away: SIGHUP, and every later write to the terminal fails), and SIGKILLed, when nothing of
// the orchestrator can run: its children must still die (the parent-death watch), and
// `mesh demo status` / `mesh demo stop` must see and clean what is left.
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {alive} from '../../src/demo/state.js'
import {eventually} from '../helpers/eventually.js'
import {ROOT, spawnMesh, type RunResult} from '../helpers/run.js'
import {Tmux} from '../helpers/tmux.js'

interface DemoJson {
  pid: number
  status: string
  processes: Array<{key: string; pid?: number}>
}

const homes: string[] = []
const pids: number[] = []

function demoHome(): {home: string; dir: string; env: NodeJS.ProcessEnv; mesh: (args: string[]) => Promise<RunResult>} {
  const home = mkdtempSync(path.join(tmpdir(), 'mesh-demo-cleanup-'))
  homes.push(home)
  const env = {MESH_HOME: home, MESH_DEMO_DIR: path.join(home, 'demo'), KUBECONFIG: path.join(home, 'no-kubeconfig')}
  return {home, dir: env.MESH_DEMO_DIR, env, mesh: (args) => spawnMesh(args, {env, compiled: true, timeoutMs: 120_000})}
}

/** The demo's state once every process is up: the orchestrator and its 10 children. */
async function readyDemo(dir: string): Promise<DemoJson> {
  const d = await eventually('the demo to be ready (demo.json status ready)', () => {
    try {
      const s = JSON.parse(readFileSync(path.join(dir, 'demo.json'), 'utf8')) as DemoJson
      return s.status === 'ready' && s.processes.every((p) => p.pid !== undefined) ? s : undefined
    } catch {
      return undefined
    }
  }, 240_000)
  pids.push(d.pid, ...d.processes.map((p) => p.pid!))
  return d
}

const gone = (list: number[], what: string): Promise<true> =>
  eventually(what, () => (list.every((pid) => !alive(pid)) ? true : undefined), {timeoutMs: 60_000, context: () => `still alive: ${list.filter(alive).join(', ')}`})

afterAll(() => {
  // Only when a test failed half-way: leave nothing running.
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  for (const h of homes) rmSync(h, {recursive: true, force: true})
})

describe('mesh demo ends cleanly whatever ends it', {timeout: 400_000}, () => {
  it('closing its terminal (tmux kill-window: the tty goes away) stops every child and removes its files', async () => {
    const {home, dir, env, mesh} = demoHome()
    const tmux = new Tmux()
    try {
      const vars = Object.entries({...env, NO_COLOR: '1', NODE_ENV: 'production'}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
      tmux.window('demo', `cd ${JSON.stringify(ROOT)} && ${vars} ${JSON.stringify(process.execPath)} bin/run.js demo --ready-timeout 240`)
      const d = await readyDemo(dir)
      await tmux.waitFor('demo', (s) => s.includes('press Ctrl-C'), 'the banner in the terminal', 60_000)
      expect(d.processes).toHaveLength(10)
      expect(existsSync(path.join(home, 'local.json'))).toBe(true)

      tmux.kill('demo')

      await gone([d.pid, ...d.processes.map((p) => p.pid!)], 'the orchestrator and its 10 children to be gone')
      await eventually('the demo directory and local.json to be removed', () => (!existsSync(dir) && !existsSync(path.join(home, 'local.json')) ? true : undefined), 60_000)
      const status = await mesh(['demo', 'status'])
      expect(status.exitCode).toBe(1)
      expect(status.stderr).toContain('no mesh demo is running (looked in')
    } finally {
      tmux.close()
    }
  })

  it('SIGKILL of the orchestrator: the children die with it; status sees what is left, stop cleans it (local.json too)', async () => {
    const {home, dir, mesh} = demoHome()
    const started = await mesh(['demo', '--detach', '--ready-timeout', '240'])
    expect(started.exitCode, started.stderr).toBe(0)
    const d = await readyDemo(dir)
    const children = d.processes.map((p) => p.pid!)

    process.kill(d.pid, 'SIGKILL')

    // Nothing of the orchestrator ran: the children saw their watch pipe close.
    await gone(children, 'every child of the SIGKILLed demo to be gone')
    // A straggler carrying the dead demo's mark, as a child that ignored the watch would be.
    const straggler = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], {
      env: {...process.env, MESH_DEMO_OWNER: `${d.pid}@${dir}`}, stdio: 'ignore', detached: true,
    })
    pids.push(straggler.pid!)
    await eventually('the straggler to run with its mark', () => (readFileSync(`/proc/${straggler.pid}/environ`, 'latin1').includes('MESH_DEMO_OWNER=') ? true : undefined))

    const status = await mesh(['demo', 'status'])
    expect(status.exitCode).toBe(1)
    expect(status.stderr).toContain(`the demo with pid ${d.pid} ended without cleaning up: 1 of its processes still run (pid ${straggler.pid}) and its files are still in ${dir}`)
    expect(status.stderr).toContain('mesh demo stop')
    const json = JSON.parse((await mesh(['demo', 'status', '-o', 'json'])).stdout) as {running: boolean; stale: {pid: number; leftovers: Array<{pid: number}>; files: boolean}}
    expect(json).toMatchObject({running: false, stale: {pid: d.pid, files: true, leftovers: [{pid: straggler.pid}]}})

    const stop = await mesh(['demo', 'stop'])
    expect(stop.exitCode, stop.stderr).toBe(0)
    expect(stop.stderr).toContain(`the demo (pid ${d.pid}) had already exited; stopped the 1 process it left running and removed what it left in ${dir}`)
    await gone([straggler.pid!], 'the straggler to be killed')
    expect(existsSync(dir)).toBe(false)
    expect(existsSync(path.join(home, 'local.json'))).toBe(false)
    const after = await mesh(['demo', 'status'])
    expect(after.exitCode).toBe(1)
    expect(after.stderr).toContain('no mesh demo is running (looked in')
  })
})
