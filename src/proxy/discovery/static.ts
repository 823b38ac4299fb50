// Discovery from MESH_PROXY_STATIC_ROUTES, for running outside Kubernetes: a fixed endpoint list
// per authority; authorities it does not list are not its business (null: go direct).
import type {ListenAddr} from '../config/config.js'
import type {Discovery, EndpointSet, Resolution} from '../core/contracts.js'

export class StaticDiscovery implements Discovery {
  constructor(private readonly routes: Map<string, ListenAddr[]>) {}

  resolve(authority: string): Promise<Resolution | null> {
    const addrs = this.routes.get(authority)
    if (!addrs) return Promise.resolve(null)
    const set: EndpointSet = {endpoints: addrs.map((a) => ({host: a.host, port: a.port, labels: {}}))}
    return Promise.resolve({current: () => set, onChange: () => () => {}, close: () => {}})
  }

  close(): void {}
}

/** Asks each discovery in turn; the first that handles the authority answers. */
export class ChainDiscovery implements Discovery {
  constructor(private readonly chain: Discovery[]) {}

  async resolve(authority: string): Promise<Resolution | null> {
    for (const d of this.chain) {
      const r = await d.resolve(authority)
      if (r) return r
    }
    return null
  }

  close(): void {
    for (const d of this.chain) d.close()
  }
}
