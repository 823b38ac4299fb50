// A TCP listener with a connection cap; every accepted socket is tracked for shutdown.
import net from 'node:net'
import type {ListenAddr} from './config.js'
import {ConnTracker} from './conn.js'

export interface Listener {
  server: net.Server
  tracker: ConnTracker
  port(): number
}

export async function listen(addr: ListenAddr, maxConnections: number, onConnection: (socket: net.Socket) => void, onRejected: () => void): Promise<Listener> {
  const tracker = new ConnTracker()
  const server = net.createServer({allowHalfOpen: true, noDelay: true, pauseOnConnect: true}, (socket) => {
    tracker.add(socket)
    socket.on('error', () => {})
    onConnection(socket)
  })
  server.maxConnections = maxConnections
  server.on('drop', onRejected)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {server, tracker, port: () => (server.address() as net.AddressInfo).port}
}
