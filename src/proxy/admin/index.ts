export {disabledIdentityReport, startAdmin, type AdminOptions, type AdminServer} from './server.js'
export {ErrorRing, ERROR_FIELD_MAX} from './errors.js'
export {TimedLevel, parseForSeconds} from './log-level.js'
export {isLoopback, parseListenAddr, type ListenAddr} from './listen-addr.js'
