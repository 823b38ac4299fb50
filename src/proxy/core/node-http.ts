// node:http for the proxy, without what an ESM import of it costs on Node 24. An `import ... from
// 'node:http'` builds the module's namespace by reading every export, and Node 24's http has lazy
// getters (WebSocket, CloseEvent, MessageEvent) that load undici's bundle, which brings http2,
// tls, crypto, readline and more: http2 before any HTTP/2 traffic and ~3 MB of a sidecar's RSS (issue 21,
// docs/architecture/proxy.md). process.getBuiltinModule returns the CommonJS module object, whose
// getters run only when read: the proxy reads the values below and never those.
// The proxy imports node:http's values from here (`import * as http from '../core/node-http.js'` or
// named imports); `import type` from node:http is erased and stays as it is.
export type * from 'node:http'

export const {Agent, createServer, METHODS, request, STATUS_CODES} = process.getBuiltinModule('node:http')
