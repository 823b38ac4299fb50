// A kubelet's port-forward for the test cluster, which has no kubelet: a Node whose InternalIP
// and kubelet port point at an HTTPS server in the test process that answers what the API
// server forwards for `pods/<name>/portforward` (GET /portForward/<ns>/<pod>?port=N, WebSocket
// subprotocol v4.channel.k8s.io, the kubelet's own protocol: per port a data and an error
// channel, each opened with the port number, 2 bytes little endian) by connecting to the port
// the test maps the pod's port to, on 127.0.0.1, as a kubelet connects to localhost inside the
// pod's network namespace. The API server does the rest for real: authentication, RBAC on
// pods/portforward, finding the node, proxying the upgrade. Pods must name the node
// (spec.nodeName). Traffic: the API server on this host to the given address, nothing else.
import https from 'node:https'
import net from 'node:net'
import type {AddressInfo} from 'node:net'
import * as k8s from '@kubernetes/client-node'
import {WebSocketServer, type WebSocket} from 'ws'
import {generateTrustAnchor} from '../../src/tls/ca.js'

export interface KubeletStandIn {
  node: string
  port: number
  /** Connections forwarded so far, by `ns/pod:port`. */
  forwarded: Map<string, number>
  close(): Promise<void>
}

/** (namespace, pod, port in the pod) -> the 127.0.0.1 port that stands for it, or undefined (refused). */
export type PortMap = (namespace: string, pod: string, port: number) => number | undefined

export async function startKubeletStandIn(kc: k8s.KubeConfig, o: {host: string; node: string; map: PortMap}): Promise<KubeletStandIn> {
  const self = await generateTrustAnchor({commonName: o.node})
  const forwarded = new Map<string, number>()
  const server = https.createServer({key: self.keyPem, cert: self.certPem}, (_req, res) => res.writeHead(404).end())
  const wss = new WebSocketServer({noServer: true, handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false)})
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'https://kubelet')
    const m = /^\/portForward\/([^/]+)\/([^/]+)$/.exec(url.pathname)
    if (!m) return socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n')
    const ports = url.searchParams.getAll('port').map(Number)
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), ports))
  })
  const serve = (ws: WebSocket, ns: string, pod: string, ports: number[]): void => {
    const sockets: net.Socket[] = []
    ports.forEach((port, i) => {
      const prefix = (channel: number) => Buffer.from([channel, port & 0xff, port >> 8])
      ws.send(prefix(2 * i))
      ws.send(prefix(2 * i + 1))
      const local = o.map(ns, pod, port)
      if (local === undefined) {
        ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(`no such port ${port} in pod ${ns}/${pod}`)]))
        ws.close()
        return
      }
      const key = `${ns}/${pod}:${port}`
      forwarded.set(key, (forwarded.get(key) ?? 0) + 1)
      const s = net.connect(local, '127.0.0.1')
      sockets[i] = s
      s.on('data', (d: Buffer) => ws.send(Buffer.concat([Buffer.from([2 * i]), d])))
      s.on('end', () => ws.close())
      s.on('error', (err) => {
        ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(err.message)]))
        ws.close()
      })
    })
    ws.on('message', (msg: Buffer) => {
      const channel = msg[0]!
      if (channel % 2 === 0) sockets[channel / 2]?.write(msg.subarray(1))
    })
    ws.on('close', () => sockets.forEach((s) => s?.destroy()))
    ws.on('error', () => sockets.forEach((s) => s?.destroy()))
  }
  await new Promise<void>((r) => server.listen(0, o.host, r))
  const port = (server.address() as AddressInfo).port
  const core = kc.makeApiClient(k8s.CoreV1Api)
  await core.deleteNode({name: o.node}).catch(() => {})
  const node = await core.createNode({body: {metadata: {name: o.node, labels: {'mesh.dev/test': 'kubelet-standin'}}}})
  node.status = {addresses: [{type: 'InternalIP', address: o.host}], daemonEndpoints: {kubeletEndpoint: {Port: port}}, conditions: [{type: 'Ready', status: 'True'}]}
  await core.replaceNodeStatus({name: o.node, body: node})
  return {
    node: o.node,
    port,
    forwarded,
    close: async () => {
      await core.deleteNode({name: o.node}).catch(() => {})
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
