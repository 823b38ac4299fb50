// Where inbound traffic goes: MESH_PROXY_INBOUND_FORWARD_ADDR when set, else the application on
// the connection's original destination port, on loopback. One cached target per address, so
// each keeps its keep-alive pools. An original destination on one of this proxy's own listener
// ports would reach the proxy again: refused as a loop (508).
import type {ListenAddr} from '../config/config.js'
import type {ConnCtx} from '../core/conn.js'
import type {EndpointClientOptions} from '../endpoint/endpoint.js'
import {ProxyError} from '../core/errors.js'
import type {LoopGuard} from './loop-guard.js'
import {BalancedTarget, type Target} from '../balance/target.js'

export class AppTargets {
  private readonly targets = new Map<number, BalancedTarget>()
  private forwardTarget?: BalancedTarget

  constructor(private readonly forward: ListenAddr | undefined, private readonly listenPort: () => number, private readonly options: EndpointClientOptions, private readonly loop: LoopGuard) {}

  target(conn: ConnCtx): Target {
    if (this.forward) {
      if (!this.forwardTarget) {
        this.forwardTarget = new BalancedTarget(`${this.forward.host}:${this.forward.port}`, this.options)
        this.forwardTarget.update({endpoints: [{host: this.forward.host, port: this.forward.port, labels: {}}]})
      }
      return this.forwardTarget
    }
    const port = conn.origDst.port
    let t = this.targets.get(port)
    if (t) return t
    if (port === this.listenPort() && !conn.redirected) {
      throw new ProxyError('NO_DESTINATION', 'no original destination for this connection and no forward address', {})
    }
    if (this.loop.isSelf('127.0.0.1', port)) throw this.loop.refuse(conn.origDst.ip, port)
    t = new BalancedTarget(`127.0.0.1:${port}`, this.options)
    t.update({endpoints: [{host: '127.0.0.1', port, labels: {}}]})
    this.targets.set(port, t)
    return t
  }

  close(): void {
    this.forwardTarget?.close()
    for (const t of this.targets.values()) t.close()
  }
}
