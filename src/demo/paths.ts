// Where a demo keeps its files: $MESH_DEMO_DIR, else $MESH_HOME/demo (~/.mesh/demo). Everything
// the demo writes lives under it (plus the local context $MESH_HOME/local.json), and
// `mesh demo stop` removes it all.
import path from 'node:path'
import {meshHome} from '../tapclient/local-context.js'

export function demoDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.MESH_DEMO_DIR || path.join(meshHome(env), 'demo'))
}

export interface DemoPaths {
  dir: string
  /** The orchestrator's pid: the lock a second `mesh demo` finds. */
  pid: string
  /** What runs where (DemoState), rewritten on every change. */
  state: string
  /** What `mesh check --proxy` reads (the format of src/check/data-plane/local-state.ts). */
  checkState: string
  registry: string
  identity: string
  tokens: string
  proxies: string
  logs: string
  /** The detached orchestrator's own output. */
  log: string
}

export function demoPaths(env: NodeJS.ProcessEnv = process.env): DemoPaths {
  const dir = demoDir(env)
  return {
    dir,
    pid: path.join(dir, 'demo.pid'),
    state: path.join(dir, 'demo.json'),
    checkState: path.join(dir, 'state.json'),
    registry: path.join(dir, 'registry.yaml'),
    identity: path.join(dir, 'identity'),
    tokens: path.join(dir, 'tokens'),
    proxies: path.join(dir, 'proxies'),
    logs: path.join(dir, 'logs'),
    log: path.join(dir, 'demo.log'),
  }
}
