// The tap server as `mesh controller --mode local` runs it (what `mesh demo` starts): pods come
// from the registry file's pods: section, the CLI finds the controller through the local
// context file, and stat, tap and edges work with no flags.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startController, type RunningController} from '../../src/control/controller.js'
import {createLogger} from '../../src/control/logger.js'
import {writeLocalContext} from '../../src/tapclient/local-context.js'
import type {StatReport} from '../../src/stat/types.js'
import {runMesh} from '../helpers/run.js'
import {scriptedTraffic, startMeshPod, withEnv, type MeshPod} from './harness.js'

let books: MeshPod
let web: MeshPod
let controller: RunningController
let dir: string
let restoreEnv: () => void

beforeAll(async () => {
  books = await startMeshPod({name: 'books-0', deployment: 'books'})
  web = await startMeshPod({name: 'web-0', deployment: 'web', routes: {'books:80': books}})
  dir = mkdtempSync(path.join(tmpdir(), 'mesh-tap-ctl-'))
  const registryFile = path.join(dir, 'registry.yaml')
  const pod = (p: MeshPod, sa: string) =>
    `  - {name: ${p.info.name}, deployment: ${p.info.owner.name}, serviceAccount: ${sa}, tap: "${p.info.tapAddress}", admin: "${p.info.adminAddress}", inbound: "${p.info.inboundAddress}"}\n`
  writeFileSync(registryFile, `services: []\npods:\n${pod(books, 'books')}${pod(web, 'web')}  - {name: legacy-0, deployment: legacy, meshed: false}\n`)
  controller = await startController({
    mode: 'local', identityDir: path.join(dir, 'identity'), registryFile, identityPort: 0, destinationPort: 0, tapPort: 0,
    log: createLogger({level: 'error', write: () => {}}),
  })
  const env = {MESH_HOME: path.join(dir, 'home')}
  writeLocalContext({version: 1, pid: process.pid, tap: controller.ctx.tap!.server!.url, token: controller.ctx.tap!.token!, namespace: 'default'}, env)
  restoreEnv = withEnv({...env, KUBECONFIG: '/nonexistent/kubeconfig'})
  await scriptedTraffic(web, 'books:80')
})

afterAll(async () => {
  restoreEnv?.()
  await controller?.stop()
  await Promise.all([books?.stop(), web?.stop()])
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('the tap server inside mesh controller --mode local', () => {
  it('is one of the components, on loopback', () => {
    expect(controller.components).toContain('tap')
    expect(controller.ctx.tap!.server!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('mesh stat deploy works with no flags', async () => {
    const r = await runMesh(['stat', 'deploy', '-o', 'json'])
    expect(r.exitCode).toBe(0)
    const rows = (JSON.parse(r.stdout) as StatReport).rows.map((x) => [x.name, `${x.meshedPods}/${x.totalPods}`, x.requests])
    expect(rows).toEqual([['books', '1/1', 30], ['legacy', '0/1', null], ['web', '1/1', 0]])
  })

  it('mesh tap deploy/books streams the proxy events', async () => {
    const run = runMesh(['tap', 'deploy/books', '--max-events', '3', '--duration', '15s', '-o', 'json'])
    // Keep sending until tap has its three events (the stream connects asynchronously), bounded.
    let done = false
    void run.then(() => (done = true))
    // (each round takes its own time: the slow requests alone are 5 x 150 ms)
    for (let i = 0; i < 50 && !done; i++) await scriptedTraffic(web, 'books:80').catch(() => {})
    const r = await run
    expect(r.exitCode).toBe(0)
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(events).toHaveLength(3)
    expect(events[0]).toMatchObject({pod: 'default/books-0', type: 'requestInit', direction: 'inbound', authority: 'books:80'})
  })
})
