// A TCP listener with a connection cap; every accepted socket is tracked for shutdown. With a
// gate, sockets accepted before it opens wait (paused, counted against the cap) and are served
// when it does. At the cap, a new connection first closes the oldest connection still in
// protocol detection (idle connections are the cheap attack: they must not lock legitimate
// clients out), and is refused only when every connection is past detection.
import net from 'node:net'
import type {ListenAddr} from '../config/config.js'
import {ConnTracker} from '../core/conn.js'

export interface Listener {
  server: net.Server
  tracker: ConnTracker
  port(): number
  /** Closes the sockets still waiting for the gate (on shutdown: nothing of theirs was served). */
  dropHeld(): void
}

/** `onLimit`: the cap fired (a connection refused, or an idle one closed to make room). */
export async function listen(addr: ListenAddr, maxConnections: number, onConnection: (socket: net.Socket) => void, onLimit: (what: 'refused' | 'evicted') => void, gate?: Promise<void>): Promise<Listener> {
  const tracker = new ConnTracker()
  let held: net.Socket[] | undefined
  if (gate) {
    held = []
    void gate.then(() => {
      const waiting = held!
      held = undefined
      for (const socket of waiting) if (!socket.destroyed) onConnection(socket)
    })
  }
  const server = net.createServer({allowHalfOpen: true, noDelay: true, pauseOnConnect: true}, (socket) => {
    socket.on('error', () => {})
    if (tracker.size >= maxConnections) {
      if (!tracker.evictOldest()) {
        socket.destroy()
        onLimit('refused')
        return
      }
      onLimit('evicted')
    }
    tracker.add(socket)
    if (held) held.push(socket)
    else onConnection(socket)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server, tracker, port: () => (server.address() as net.AddressInfo).port,
    dropHeld: () => {
      if (held) for (const socket of held.splice(0)) socket.destroy()
    },
  }
}
