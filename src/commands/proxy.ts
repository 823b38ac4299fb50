import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/base-command.js'

export default class Proxy extends BaseCommand<typeof Proxy> {
  static override summary = 'Run the sidecar proxy (inbound, outbound, admin and tap listeners) until SIGTERM.'
  static override description = 'Every flag mirrors a MESH_PROXY_* environment variable (the injector sets those); a flag wins over its variable. ' +
    'With no control plane configured the proxy runs standalone and plaintext from these settings alone. ' +
    'With an identity (MESH_PROXY_IDENTITY_ADDR), it is ready, and its outbound side serves, only once it holds its first certificate. ' +
    'On SIGTERM it stops accepting, lets in-flight requests finish within the grace period, and exits 0.'
  static override examples = [
    '<%= config.bin %> proxy',
    '<%= config.bin %> proxy --inbound-forward-addr 127.0.0.1:8080 --static-routes "web.local:80=127.0.0.1:4143"',
    '<%= config.bin %> proxy --routes "web.shop.svc.cluster.local:80 GET /api/=timeout:2s,retries:2,retry-on:502+503;* POST /pay=timeout:5s,retries:0"',
    'HTTP_PROXY=http://127.0.0.1:4140 curl http://web.local/',
  ]
  static override flags = {
    'inbound-listen-addr': Flags.string({description: 'inbound listener (MESH_PROXY_INBOUND_LISTEN_ADDR, default 0.0.0.0:4143)'}),
    'outbound-listen-addr': Flags.string({description: 'outbound listener (MESH_PROXY_OUTBOUND_LISTEN_ADDR, default 127.0.0.1:4140)'}),
    'admin-listen-addr': Flags.string({description: 'admin listener: /metrics /ready /live /shutdown (MESH_PROXY_ADMIN_LISTEN_ADDR, default 0.0.0.0:4191)'}),
    'tap-listen-addr': Flags.string({description: 'tap listener (MESH_PROXY_TAP_LISTEN_ADDR, default 0.0.0.0:4190)'}),
    'inbound-forward-addr': Flags.string({description: 'send inbound traffic here instead of the original destination (MESH_PROXY_INBOUND_FORWARD_ADDR)'}),
    'static-routes': Flags.string({description: 'routes without a destination service: "authority=addr,addr;..." (MESH_PROXY_STATIC_ROUTES)'}),
    routes: Flags.string({description: 'per-route timeouts and retries: "authority [METHOD] [/prefix]=timeout:2s,retries:2,retry-on:502+503+unavailable,retryable:true;..." (authority * for any; the longest prefix wins) (MESH_PROXY_ROUTES)'}),
    'inbound-policy': Flags.string({description: 'who the inbound side serves: all-unauthenticated | all-authenticated | identities:<id>,... (MESH_PROXY_INBOUND_POLICY, default all-unauthenticated)'}),
    'opaque-ports': Flags.string({description: 'ports carried as TCP without detection, e.g. 25,3306,8000-8010 (MESH_PROXY_OPAQUE_PORTS)'}),
    'log-level': Flags.string({description: 'error | warn | info | debug | trace (MESH_PROXY_LOG_LEVEL, default info)'}),
    'log-format': Flags.string({description: 'plain | json (MESH_PROXY_LOG_FORMAT, default plain)'}),
    'shutdown-grace-period': Flags.string({description: 'seconds in-flight requests get after SIGTERM (MESH_PROXY_SHUTDOWN_GRACE_PERIOD, default 30)'}),
  }

  async run(): Promise<void> {
    const {loadProxyConfig} = await import('../proxy/config/config.js')
    const {serveProxy} = await import('../proxy/main.js')
    const f = this.flags
    await serveProxy(loadProxyConfig(process.env, {
      inbound: f['inbound-listen-addr'], outbound: f['outbound-listen-addr'], admin: f['admin-listen-addr'], tap: f['tap-listen-addr'],
      inboundForward: f['inbound-forward-addr'], staticRoutes: f['static-routes'], routes: f.routes, opaquePorts: f['opaque-ports'],
      logLevel: f['log-level'], logFormat: f['log-format'], shutdownGrace: f['shutdown-grace-period'], inboundPolicy: f['inbound-policy'],
    }))
  }
}
