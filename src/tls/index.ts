// The mesh's PKI: keys (Node crypto), certificates and CSRs (node-forge, RSA), checks (Node's
// X509Certificate). See docs/architecture/identity.md.
export * from './keys.js'
export * from './pem.js'
export * from './signer.js'
export * from './ca.js'
export * from './leaf.js'
export * from './csr.js'
export * from './verify.js'
