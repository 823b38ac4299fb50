// Every message between the proxy, the control plane and the CLI is typed in src/protocol/.
export * from './control-plane.js'
export * from './destination.js'
export * from './identity.js'
export * from './proxy-env.js'
export * from './tap.js'
export * from './routes.js'
