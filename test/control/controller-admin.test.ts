// The controller's admin server (src/control/admin.ts): the real controller in local mode with
// `adminPort: 0`, asked with curl as the kubelet and Prometheus would (HTTP/1.1, plain): /live,
// /ready, /metrics (a valid exposition: promtool when installed, our parser always), and what it
// refuses (other paths and methods, oversized headers, a slow client); /ready says 503 and why
// while the controller is not ready.
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import WebSocket from 'ws'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startControllerAdmin} from '../../src/control/admin.js'
import {startController, type RunningController} from '../../src/control/controller.js'
import {controllerIdentityName, ensureLocalIdentityDir} from '../../src/control/identity/index.js'
import {createLogger, silentLogger} from '../../src/control/logger.js'
import {parseMetrics, Registry} from '../../src/metrics/index.js'
import {eventually} from '../helpers/eventually.js'

const exec = promisify(execFile)
let tmp: string
let controller: RunningController
let base: string

async function curl(url: string, ...args: string[]): Promise<{status: number; body: string; headers: string}> {
  const {stdout} = await exec('curl', ['-sS', '--max-time', '10', '-D', '-', ...args, url])
  const [headers, ...rest] = stdout.split('\r\n\r\n')
  return {status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers!)?.[1]), headers: headers!, body: rest.join('\r\n\r\n')}
}

/** Writes raw bytes, returns the status line the server answers with. */
function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data))
    let got = ''
    s.on('data', (c: Buffer) => (got += c.toString('latin1')))
    s.on('close', () => resolve(got.split('\r\n')[0]!))
    s.on('error', reject)
    s.setTimeout(15_000, () => s.destroy(new Error('no answer')))
  })
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mesh-ctl-admin-'))
  writeFileSync(path.join(tmp, 'registry.yaml'), 'services:\n- {name: web, namespace: default, ports: [{port: 80, endpoints: [{address: 127.0.0.1, port: 8080}]}]}\n')
  controller = await startController({
    mode: 'local', identityDir: path.join(tmp, 'id'), registryFile: path.join(tmp, 'registry.yaml'), identityPort: 0, destinationPort: 0, tapPort: 0, adminPort: 0,
    log: createLogger({level: 'error', write: () => {}}),
  })
  base = `http://127.0.0.1:${controller.admin!.port}`
})

afterAll(async () => {
  await controller?.stop()
  if (tmp) rmSync(tmp, {recursive: true, force: true})
})

describe('the controller admin server', () => {
  it('answers the probes: /live and /ready are 200 once started', async () => {
    expect(await curl(`${base}/live`)).toMatchObject({status: 200, body: 'live\n'})
    expect(await curl(`${base}/ready`)).toMatchObject({status: 200, body: 'ready\n'})
    expect((await curl(`${base}/ready`, '-I')).status).toBe(200)
  })

  it('serves its metrics as a valid exposition: process metrics and build info', async () => {
    const r = await curl(`${base}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers).toMatch(/content-type: text\/plain; version=0\.0\.4/i)
    const families = parseMetrics(r.body)
    expect(families.get('mesh_controller_build_info')?.samples[0]?.labels).toMatchObject({node_version: process.version})
    expect([...families.keys()].some((k) => k.startsWith('process_'))).toBe(true)
    const promtool = await exec('promtool', ['--version']).then(() => true, () => false)
    if (promtool) {
      const file = path.join(tmp, 'scrape.txt')
      writeFileSync(file, r.body)
      await exec('sh', ['-c', `promtool check metrics < ${file}`])
    }
  })

  it('counts the destination service\'s refusals on its /metrics: a client over its watch limit', async () => {
    const before = parseMetrics((await curl(`${base}/metrics`)).body).get('mesh_destination_refused_total')
    expect(before?.samples.map((s) => s.labels.reason).sort()).toEqual(expect.arrayContaining(['peer_connections', 'peer_watches', 'total_streams']))
    const watchesBefore = before!.samples.find((s) => s.labels.reason === 'peer_watches')!.value
    // A connection as a proxy opens it (the controller's CA, its serving name), 2,001 watches of
    // a Service: the default bound is 2,000 per client, the last one is refused on its stream.
    const {anchorsPem} = await ensureLocalIdentityDir(path.join(tmp, 'id'))
    const ws = new WebSocket(`wss://127.0.0.1:${controller.ctx.destination!.port}/v1/destinations?ns=default`, {ca: anchorsPem, servername: controllerIdentityName()} as unknown as WebSocket.ClientOptions)
    try {
      const errors: Array<Record<string, unknown>> = []
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>
        if (m.type === 'error') errors.push(m)
      })
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
      for (let id = 1; id <= 2001; id++) ws.send(JSON.stringify({type: 'watch', id, authority: 'web.default.svc.cluster.local:80'}))
      await eventually('the 2,001st watch refused', () => expect(errors.some((m) => m.id === 2001)).toBe(true), {timeoutMs: 60_000})
      expect(errors.find((m) => m.id === 2001)).toMatchObject({code: 'UNAVAILABLE', message: expect.stringMatching(/too many streams from this client/)})
      const after = parseMetrics((await curl(`${base}/metrics`)).body).get('mesh_destination_refused_total')
      expect(after!.samples.find((s) => s.labels.reason === 'peer_watches')!.value).toBe(watchesBefore + 1)
    } finally {
      ws.close()
    }
  })

  it('refuses other paths (404), other methods (405, with Allow), oversized headers (431) and a client that never finishes its headers', async () => {
    expect((await curl(`${base}/`)).status).toBe(404)
    expect((await curl(`${base}/metrics/../ready`, '--path-as-is')).status).toBe(404)
    const post = await curl(`${base}/ready`, '-X', 'POST', '-d', 'x')
    expect(post.status).toBe(405)
    expect(post.headers).toMatch(/allow: GET, HEAD/i)
    expect(await raw(controller.admin!.port, `GET /live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`)).toBe('HTTP/1.1 431 Request Header Fields Too Large')
    // Headers never completed: the server ends the connection by itself (its headers timeout).
    expect(await raw(controller.admin!.port, 'GET /live HTTP/1.1\r\nHost: x\r\n')).toMatch(/^(HTTP\/1\.1 408 Request Timeout)?$/)
    expect((await curl(`${base}/live`)).status).toBe(200)
  }, 30_000)
})

describe('readiness', () => {
  it('is 503 with the reason until the controller says it is ready, then 200', async () => {
    let why: string | undefined = 'starting destination'
    const admin = await startControllerAdmin({host: '127.0.0.1', port: 0, registry: new Registry(), notReady: () => why, log: silentLogger})
    try {
      expect(await curl(`http://127.0.0.1:${admin.port}/ready`)).toMatchObject({status: 503, body: 'not ready: starting destination\n'})
      expect((await curl(`http://127.0.0.1:${admin.port}/live`)).status).toBe(200)
      why = undefined
      expect((await curl(`http://127.0.0.1:${admin.port}/ready`)).status).toBe(200)
    } finally {
      await admin.close()
    }
  })
})
