// The proxy's identity client: startIdentity(config) -> an Identity (src/proxy/core/contracts.ts).
export {startIdentity, ProxyIdentity, type IdentityStatus, KEY_FILE, CERT_FILE} from './proxy-identity.js'
export {identityConfigFromEnv, IdentityConfigError, type ProxyIdentityConfig, type IdentityLogger} from './config.js'
export {verifyPeerCertificate, peerIdentityName, peerChain} from './verify-peer.js'
export {callCertify, CertifyError} from './certify-client.js'
