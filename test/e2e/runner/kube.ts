// A small REST client for the test cluster (admin client certificate): the pod runner plays
// kubelet and controllers, so it talks to the API server the way they do, status subresource
// included, without client-node's typed layers.
import https from 'node:https'
import type {ClusterInfo} from '../../cluster/cluster.js'

export type Obj = Record<string, any>

export class KubeError extends Error {
  constructor(readonly status: number, readonly method: string, readonly path: string, readonly body: string) {
    super(`${method} ${path}: ${status} ${body.slice(0, 500)}`)
  }
}

export class Kube {
  private readonly agent: https.Agent

  constructor(private readonly info: Pick<ClusterInfo, 'server' | 'caPem' | 'adminCertPem' | 'adminKeyPem'>) {
    this.agent = new https.Agent({keepAlive: true, maxSockets: 16, ca: info.caPem, cert: info.adminCertPem, key: info.adminKeyPem})
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Obj> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.info.server}${path}`, {
        method, agent: this.agent, timeout: 30_000,
        headers: {accept: 'application/json', ...(payload ? {'content-type': contentType, 'content-length': Buffer.byteLength(payload)} : {})},
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if ((res.statusCode ?? 500) >= 300) return reject(new KubeError(res.statusCode ?? 0, method, path, text))
          resolve(text ? (JSON.parse(text) as Obj) : {})
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  get = (path: string): Promise<Obj> => this.request('GET', path)
  post = (path: string, body: unknown): Promise<Obj> => this.request('POST', path, body)
  put = (path: string, body: unknown): Promise<Obj> => this.request('PUT', path, body)
  mergePatch = (path: string, body: unknown): Promise<Obj> => this.request('PATCH', path, body, 'application/merge-patch+json')
  async delete(path: string): Promise<void> {
    await this.request('DELETE', path).catch((err: unknown) => {
      if (!(err instanceof KubeError && err.status === 404)) throw err
    })
  }

  /**
   * List then watch `path` (a collection), calling onEvent for every ADDED/MODIFIED/DELETED,
   * re-listing after an error or a 410, until stop() is called. The initial list is replayed as
   * ADDED events.
   */
  watch(path: string, onEvent: (type: string, obj: Obj) => void | Promise<void>): {stop(): void; synced: Promise<void>} {
    let stopped = false
    let current: {destroy(): void} | undefined
    let markSynced: () => void = () => {}
    const synced = new Promise<void>((r) => (markSynced = r))
    const loop = async (): Promise<void> => {
      while (!stopped) {
        try {
          const list = await this.get(path)
          for (const item of list.items ?? []) await onEvent('ADDED', item)
          markSynced()
          await this.streamWatch(`${path}${path.includes('?') ? '&' : '?'}watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`, onEvent, (r) => (current = r), () => stopped)
        } catch (err) {
          if (!stopped) process.stderr.write(`[pod-runner] watch ${path}: ${(err as Error).message}; re-listing\n`)
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 200))
      }
    }
    void loop()
    return {stop: () => { stopped = true; current?.destroy() }, synced}
  }

  private streamWatch(path: string, onEvent: (type: string, obj: Obj) => void | Promise<void>, setReq: (r: {destroy(): void}) => void, isStopped: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.info.server}${path}`, {method: 'GET', agent: false, ca: this.info.caPem, cert: this.info.adminCertPem, key: this.info.adminKeyPem}, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch status ${res.statusCode}`))
        let buf = ''
        let chain = Promise.resolve()
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          buf += d
          let i
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i)
            buf = buf.slice(i + 1)
            if (!line.trim()) continue
            const ev = JSON.parse(line) as {type: string; object: Obj}
            if (ev.type === 'ERROR') { req.destroy(); return reject(new Error(`watch error ${JSON.stringify(ev.object).slice(0, 200)}`)) }
            if (ev.type === 'BOOKMARK') continue
            chain = chain.then(() => onEvent(ev.type, ev.object)).catch((err: unknown) => {
              process.stderr.write(`[pod-runner] handler: ${(err as Error).stack}\n`)
            })
          }
        })
        res.on('end', () => void chain.then(resolve))
        res.on('error', (err) => (isStopped() ? resolve() : reject(err)))
      })
      req.on('error', (err) => (isStopped() ? resolve() : reject(err)))
      setReq(req)
      req.end()
    })
  }

  close(): void {
    this.agent.destroy()
  }
}
